//! template.yaml read as CloudFormation does: the short tags (`!Ref`, `!GetAtt`, `!Sub`, `!If`,
//! `!Equals`, `!Join`, ...) and their `Fn::` long forms are evaluated against parameters, pseudo
//! parameters, conditions and the local values of the resources created so far.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value as Json;
use serde_norway::{Mapping, Value as Yaml};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The whole document.
    pub doc: Yaml,
}

/// One entry of `Resources`.
#[derive(Debug, Clone)]
pub struct Resource<'a> {
    /// Logical id.
    pub id: &'a str,
    /// `Type`, e.g. `AWS::SQS::Queue`.
    pub kind: &'a str,
    /// `Properties` (an empty mapping when absent).
    pub properties: &'a Yaml,
    /// `Metadata` (null when absent).
    pub metadata: &'a Yaml,
    /// `Condition`, when the resource is conditional.
    pub condition: Option<&'a str>,
}

const NULL: Yaml = Yaml::Null;

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses template text.
    pub fn parse(text: &str) -> Result<Self> {
        let doc: Yaml = serde_norway::from_str(text)?;
        if !doc.is_mapping() {
            bail!("a template is a mapping");
        }
        Ok(Template { doc })
    }

    /// A top-level section (`Parameters`, `Conditions`, `Globals`, ...), null when absent.
    pub fn section(&self, name: &str) -> &Yaml {
        self.doc.get(name).unwrap_or(&NULL)
    }

    /// Every resource, in template order.
    pub fn resources(&self) -> Result<Vec<Resource<'_>>> {
        let Some(map) = self.section("Resources").as_mapping() else {
            bail!("the template has no Resources");
        };
        map.iter()
            .map(|(id, body)| {
                let id = id.as_str().ok_or_else(|| anyhow!("a resource id is not a string"))?;
                let kind = body
                    .get("Type")
                    .and_then(Yaml::as_str)
                    .ok_or_else(|| anyhow!("resource {id} has no Type"))?;
                Ok(Resource {
                    id,
                    kind,
                    properties: body.get("Properties").unwrap_or(&NULL),
                    metadata: body.get("Metadata").unwrap_or(&NULL),
                    condition: body.get("Condition").and_then(Yaml::as_str),
                })
            })
            .collect()
    }

    /// The logical ids each resource refers to (`Ref`, `GetAtt`, `Sub` variables, `DependsOn`),
    /// restricted to resources.
    pub fn dependencies(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let resources = self.resources()?;
        let ids: BTreeSet<&str> = resources.iter().map(|r| r.id).collect();
        let mut out = BTreeMap::new();
        for r in &resources {
            let mut found = BTreeSet::new();
            let body = self.section("Resources").get(r.id).unwrap_or(&NULL);
            collect_references(body, &mut found);
            match body.get("DependsOn") {
                Some(Yaml::String(s)) => {
                    found.insert(s.clone());
                }
                Some(Yaml::Sequence(seq)) => found.extend(seq.iter().filter_map(Yaml::as_str).map(String::from)),
                _ => {}
            }
            found.retain(|d| ids.contains(d.as_str()) && d != r.id);
            out.insert(r.id.to_string(), found);
        }
        Ok(out)
    }

    /// Resource ids ordered so that every resource comes after the resources it refers to.
    pub fn creation_order(&self) -> Result<Vec<String>> {
        let deps = self.dependencies()?;
        let mut order = Vec::new();
        let mut state: HashMap<String, bool> = HashMap::new(); // false = visiting, true = done
        fn visit(
            id: &str,
            deps: &BTreeMap<String, BTreeSet<String>>,
            state: &mut HashMap<String, bool>,
            order: &mut Vec<String>,
        ) -> Result<()> {
            match state.get(id) {
                Some(true) => return Ok(()),
                Some(false) => bail!("circular reference through resource {id}"),
                None => {}
            }
            state.insert(id.to_string(), false);
            for d in deps.get(id).into_iter().flatten() {
                visit(d, deps, state, order)?;
            }
            state.insert(id.to_string(), true);
            order.push(id.to_string());
            Ok(())
        }
        for r in self.resources()? {
            visit(r.id, &deps, &mut state, &mut order)?;
        }
        Ok(order)
    }
}

/// The intrinsic function a node calls, if it is one: `(long name, argument)`.
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let short = tag.trim_start_matches('!');
            let long = match short {
                "Ref" | "Condition" => short.to_string(),
                other => format!("Fn::{other}"),
            };
            Some((long, &tagged.value))
        }
        Yaml::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.to_string(), arg))
        }
        _ => None,
    }
}

/// The variables of a `Sub` string: `(name, attribute)`; `${!Literal}` is not a variable.
fn sub_variables(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let inner = &after[..end];
        if !inner.starts_with('!') {
            match inner.split_once('.') {
                Some((name, attr)) if !name.contains("::") => out.push((name.to_string(), Some(attr.to_string()))),
                _ => out.push((inner.to_string(), None)),
            }
        }
        rest = &after[end + 1..];
    }
    out
}

fn collect_references(value: &Yaml, out: &mut BTreeSet<String>) {
    if let Some((name, arg)) = intrinsic(value) {
        match name.as_str() {
            "Ref" => {
                if let Some(s) = arg.as_str() {
                    out.insert(s.to_string());
                }
            }
            "Fn::GetAtt" => match arg {
                Yaml::String(s) => {
                    out.insert(s.split('.').next().unwrap_or_default().to_string());
                }
                Yaml::Sequence(seq) => {
                    if let Some(s) = seq.first().and_then(Yaml::as_str) {
                        out.insert(s.to_string());
                    }
                }
                _ => {}
            },
            "Fn::Sub" => {
                let text = match arg {
                    Yaml::Sequence(seq) => seq.first().and_then(Yaml::as_str),
                    other => other.as_str(),
                };
                out.extend(sub_variables(text.unwrap_or_default()).into_iter().map(|(n, _)| n));
            }
            _ => {}
        }
        collect_references(arg, out);
        return;
    }
    match value {
        Yaml::Sequence(seq) => seq.iter().for_each(|v| collect_references(v, out)),
        Yaml::Mapping(map) => map.values().for_each(|v| collect_references(v, out)),
        Yaml::Tagged(t) => collect_references(&t.value, out),
        _ => {}
    }
}

/// The local value of a created resource: what `Ref` gives and its `GetAtt` attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Physical {
    /// `!Ref` (a table's name, a queue's URL, a bus's name, ...).
    pub reference: String,
    /// `!GetAtt` attributes (`Arn`, `QueueName`, ...).
    pub attributes: HashMap<String, String>,
}

/// Evaluates template values: parameters, pseudo parameters, conditions and created resources.
#[derive(Debug, Clone)]
pub struct Resolver {
    parameters: HashMap<String, String>,
    conditions: Mapping,
    resources: HashMap<String, Physical>,
    pseudo: HashMap<String, String>,
}

/// Pseudo parameters of the local stack.
#[derive(Debug, Clone)]
pub struct Pseudo {
    /// `AWS::StackName`.
    pub stack_name: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId` (moto's default account).
    pub account_id: String,
}

/// Checks `value` against the constraints of parameter `name` as CloudFormation does: `AllowedValues`,
/// `MinLength` / `MaxLength` (in characters) and `AllowedPattern` (the whole value must match).
fn check_constraints(name: &str, spec: &Yaml, value: &str) -> Result<()> {
    if let Some(allowed) = spec.get("AllowedValues").and_then(Yaml::as_sequence) {
        let allowed: Vec<String> = allowed
            .iter()
            .filter_map(|a| yaml_to_json(a).ok().as_ref().and_then(scalar_to_string))
            .collect();
        if !allowed.iter().any(|a| a == value) {
            bail!("parameter {name}: {value:?} is not one of {allowed:?}");
        }
    }
    let length = value.chars().count();
    let bound = |key: &str| spec.get(key).and_then(Yaml::as_u64).map(|n| n as usize);
    if let Some(min) = bound("MinLength")
        && length < min
    {
        bail!("parameter {name}: {value:?} is shorter than {min} characters");
    }
    if let Some(max) = bound("MaxLength")
        && length > max
    {
        bail!("parameter {name}: {value:?} is longer than {max} characters");
    }
    if let Some(pattern) = spec.get("AllowedPattern").and_then(Yaml::as_str) {
        let whole = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| anyhow!("parameter {name}: AllowedPattern is not a regular expression: {e}"))?;
        if !whole.is_match(value) {
            bail!("parameter {name}: {value:?} does not match {pattern}");
        }
    }
    Ok(())
}

impl Resolver {
    /// A resolver with the template's parameter defaults overridden by `overrides`; fails on a
    /// parameter with neither, or a value CloudFormation would refuse (see [`check_constraints`]).
    pub fn new(template: &Template, overrides: &BTreeMap<String, String>, pseudo: &Pseudo) -> Result<Self> {
        let mut parameters = HashMap::new();
        let declared = template.section("Parameters").as_mapping().cloned().unwrap_or_default();
        for (name, spec) in &declared {
            let name = name
                .as_str()
                .ok_or_else(|| anyhow!("a parameter name is not a string"))?;
            let value = match overrides.get(name) {
                Some(v) => v.clone(),
                None => match spec.get("Default") {
                    Some(d) => scalar_to_string(&yaml_to_json(d)?)
                        .ok_or_else(|| anyhow!("parameter {name}: the default is not a scalar"))?,
                    None => bail!("parameter {name} has no default: give it a value in the local parameters file"),
                },
            };
            check_constraints(name, spec, &value)?;
            parameters.insert(name.to_string(), value);
        }
        for name in overrides.keys() {
            if !parameters.contains_key(name) {
                bail!("the local parameters file sets {name}, which the template does not declare");
            }
        }
        let pseudo = HashMap::from([
            ("AWS::StackName".to_string(), pseudo.stack_name.clone()),
            ("AWS::Region".to_string(), pseudo.region.clone()),
            ("AWS::AccountId".to_string(), pseudo.account_id.clone()),
            ("AWS::Partition".to_string(), "aws".to_string()),
            ("AWS::URLSuffix".to_string(), "amazonaws.com".to_string()),
            ("AWS::StackId".to_string(), format!("local/{}", pseudo.stack_name)),
        ]);
        Ok(Resolver {
            parameters,
            conditions: template.section("Conditions").as_mapping().cloned().unwrap_or_default(),
            resources: HashMap::new(),
            pseudo,
        })
    }

    /// A parameter's value.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// A pseudo parameter's value (`AWS::StackName`, ...).
    pub fn pseudo(&self, name: &str) -> Option<&str> {
        self.pseudo.get(name).map(String::as_str)
    }

    /// Records the local value of a created resource.
    pub fn register(&mut self, id: &str, physical: Physical) {
        self.resources.insert(id.to_string(), physical);
    }

    /// The local value of a created resource.
    pub fn physical(&self, id: &str) -> Option<&Physical> {
        self.resources.get(id)
    }

    /// Evaluates a named condition.
    pub fn condition(&self, name: &str) -> Result<bool> {
        let body = self
            .conditions
            .get(name)
            .ok_or_else(|| anyhow!("unknown condition {name}"))?;
        self.resolve_bool(body)
    }

    fn resolve_bool(&self, value: &Yaml) -> Result<bool> {
        match self.resolve(value)? {
            Some(Json::Bool(b)) => Ok(b),
            Some(Json::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            other => bail!("expected a boolean, got {other:?}"),
        }
    }

    /// Evaluates a value to JSON; `None` is `AWS::NoValue` (the key is to be left out).
    pub fn resolve(&self, value: &Yaml) -> Result<Option<Json>> {
        if let Some((name, arg)) = intrinsic(value) {
            return self.call(&name, arg).with_context(|| format!("evaluating {name}"));
        }
        Ok(Some(match value {
            Yaml::Sequence(seq) => {
                let mut out = Vec::new();
                for v in seq {
                    if let Some(v) = self.resolve(v)? {
                        out.push(v);
                    }
                }
                Json::Array(out)
            }
            Yaml::Mapping(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let key = k.as_str().ok_or_else(|| anyhow!("a mapping key is not a string"))?;
                    if let Some(v) = self.resolve(v)? {
                        out.insert(key.to_string(), v);
                    }
                }
                Json::Object(out)
            }
            scalar => yaml_to_json(scalar)?,
        }))
    }

    /// Evaluates a value that must not be `AWS::NoValue`.
    pub fn resolve_value(&self, value: &Yaml) -> Result<Json> {
        self.resolve(value)?
            .ok_or_else(|| anyhow!("AWS::NoValue where a value is required"))
    }

    /// Evaluates a value to a string (numbers and booleans as text).
    pub fn resolve_string(&self, value: &Yaml) -> Result<String> {
        let v = self.resolve_value(value)?;
        scalar_to_string(&v).ok_or_else(|| anyhow!("expected a string, got {v}"))
    }

    fn reference(&self, name: &str) -> Result<String> {
        if let Some(v) = self.pseudo.get(name).or_else(|| self.parameters.get(name)) {
            return Ok(v.clone());
        }
        self.resources
            .get(name)
            .map(|p| p.reference.clone())
            .ok_or_else(|| anyhow!("Ref to {name}: no such parameter, or the resource is not created (yet)"))
    }

    fn attribute(&self, id: &str, attr: &str) -> Result<String> {
        let physical = self
            .resources
            .get(id)
            .ok_or_else(|| anyhow!("GetAtt {id}.{attr}: the resource is not created (yet)"))?;
        physical
            .attributes
            .get(attr)
            .cloned()
            .ok_or_else(|| anyhow!("GetAtt {id}.{attr}: the local stack knows no such attribute"))
    }

    fn call(&self, name: &str, arg: &Yaml) -> Result<Option<Json>> {
        let list = |n: usize| -> Result<&Vec<Yaml>> {
            arg.as_sequence()
                .filter(|s| s.len() == n)
                .ok_or_else(|| anyhow!("{name} takes a list of {n}"))
        };
        Ok(Some(match name {
            "Ref" => {
                let target = arg.as_str().ok_or_else(|| anyhow!("Ref takes a name"))?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                Json::String(self.reference(target)?)
            }
            "Fn::GetAtt" => {
                let (id, attr) = match arg {
                    Yaml::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| anyhow!("GetAtt takes Resource.Attribute"))?,
                    _ => {
                        let l = list(2)?;
                        (self.resolve_string(&l[0])?, self.resolve_string(&l[1])?)
                    }
                };
                Json::String(self.attribute(&id, &attr)?)
            }
            "Fn::Sub" => {
                let (text, vars) = match arg {
                    Yaml::String(s) => (s.clone(), HashMap::new()),
                    _ => {
                        let l = list(2)?;
                        let text = l[0].as_str().ok_or_else(|| anyhow!("Sub takes a string"))?;
                        let mut vars = HashMap::new();
                        for (k, v) in l[1].as_mapping().into_iter().flatten() {
                            let k = k
                                .as_str()
                                .ok_or_else(|| anyhow!("a Sub variable name is not a string"))?;
                            vars.insert(k.to_string(), self.resolve_string(v)?);
                        }
                        (text.to_string(), vars)
                    }
                };
                Json::String(self.substitute(&text, &vars)?)
            }
            "Fn::If" => {
                let l = list(3)?;
                let cond = l[0].as_str().ok_or_else(|| anyhow!("If takes a condition name"))?;
                return self.resolve(if self.condition(cond)? { &l[1] } else { &l[2] });
            }
            "Fn::Equals" => {
                let l = list(2)?;
                let a = self.resolve_value(&l[0])?;
                let b = self.resolve_value(&l[1])?;
                Json::Bool(scalar_to_string(&a).is_some() && scalar_to_string(&a) == scalar_to_string(&b))
            }
            "Fn::Not" => Json::Bool(!self.resolve_bool(&list(1)?[0])?),
            "Fn::And" | "Fn::Or" => {
                let items = arg.as_sequence().ok_or_else(|| anyhow!("{name} takes a list"))?;
                let mut values = Vec::new();
                for item in items {
                    values.push(self.resolve_bool(item)?);
                }
                Json::Bool(if name == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            "Condition" => Json::Bool(self.condition(arg.as_str().ok_or_else(|| anyhow!("Condition takes a name"))?)?),
            "Fn::Join" => {
                let l = list(2)?;
                let delimiter = self.resolve_string(&l[0])?;
                let parts = match self.resolve_value(&l[1])? {
                    Json::Array(parts) => parts,
                    other => bail!("Join takes a list, got {other}"),
                };
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| scalar_to_string(p).ok_or_else(|| anyhow!("Join: {p} is not a scalar")))
                    .collect::<Result<_>>()?;
                Json::String(parts.join(&delimiter))
            }
            "Fn::Select" => {
                let l = list(2)?;
                let index: usize = self.resolve_string(&l[0])?.parse()?;
                match self.resolve_value(&l[1])? {
                    Json::Array(mut items) if index < items.len() => items.swap_remove(index),
                    other => bail!("Select: no item {index} in {other}"),
                }
            }
            "Fn::Split" => {
                let l = list(2)?;
                let delimiter = self.resolve_string(&l[0])?;
                let text = self.resolve_string(&l[1])?;
                Json::Array(text.split(&delimiter).map(|s| Json::String(s.to_string())).collect())
            }
            other => bail!("the local stack does not evaluate {other}"),
        }))
    }

    fn substitute(&self, text: &str, vars: &HashMap<String, String>) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("Sub: unclosed ${{ in {text:?}"))?;
            let inner = &after[..end];
            if let Some(literal) = inner.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(inner) {
                out.push_str(v);
            } else {
                match inner.split_once('.') {
                    Some((id, attr)) if !id.contains("::") => out.push_str(&self.attribute(id, attr)?),
                    _ => out.push_str(&self.reference(inner)?),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A scalar YAML value as JSON (tags must have been evaluated already).
fn yaml_to_json(value: &Yaml) -> Result<Json> {
    Ok(match value {
        Yaml::Tagged(t) => bail!("unexpected tag {}", t.tag),
        other => serde_json::to_value(other)?,
    })
}

/// A JSON scalar as text; `None` for arrays, objects and null.
pub fn scalar_to_string(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(text: &str, overrides: &[(&str, &str)]) -> (Template, Resolver) {
        let t = Template::parse(text).unwrap();
        let overrides = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let pseudo = Pseudo {
            stack_name: "st".into(),
            region: "eu-central-1".into(),
            account_id: "123456789012".into(),
        };
        let r = Resolver::new(&t, &overrides, &pseudo).unwrap();
        (t, r)
    }

    const T: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Name: {Type: String, MinLength: 1, MaxLength: 8, AllowedPattern: "[a-z][a-z0-9-]*"}
  Count: {Type: Number, Default: 5}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt D.Arn, maxReceiveCount: !Ref Count}
  D:
    Type: AWS::SQS::Queue
  B:
    Type: AWS::Events::EventBus
    DependsOn: Q
    Properties:
      Name: !Sub "${AWS::StackName}-${Name}-${!x}"
"#;

    #[test]
    fn evaluates_short_and_long_forms() {
        let (t, mut r) = resolver(T, &[("Name", "n")]);
        r.register(
            "D",
            Physical {
                reference: "url".into(),
                attributes: HashMap::from([("Arn".into(), "arn:d".into())]),
            },
        );
        let q = t.section("Resources").get("Q").unwrap().get("Properties").unwrap();
        assert_eq!(
            r.resolve_value(q).unwrap(),
            serde_json::json!({"RedrivePolicy": {"deadLetterTargetArn": "arn:d", "maxReceiveCount": "5"}})
        );
        let b = t.section("Resources").get("B").unwrap().get("Properties").unwrap();
        assert_eq!(r.resolve_value(b).unwrap(), serde_json::json!({"Name": "st-n-${x}"}));
        let y = |s: &str| serde_norway::from_str::<Yaml>(s).unwrap();
        assert_eq!(r.resolve_string(&y("!If [IsProd, a, b]")).unwrap(), "b");
        assert!(r.condition("NotProd").unwrap());
        assert_eq!(r.resolve_string(&y("!Join ['-', [a, !Ref Stage]]")).unwrap(), "a-dev");
        assert_eq!(
            r.resolve_string(&y("{'Fn::Join': ['', [x, {Ref: Name}]]}")).unwrap(),
            "xn"
        );
        assert_eq!(
            r.resolve_string(&y("!Sub ['${A}-${D.Arn}', {A: !Ref Count}]")).unwrap(),
            "5-arn:d"
        );
        assert_eq!(r.resolve(&y("!If [IsProd, a, !Ref AWS::NoValue]")).unwrap(), None);
        assert!(r.resolve(&y("!Ref Nope")).is_err());
    }

    #[test]
    fn orders_resources_after_their_references() {
        let (t, _) = resolver(T, &[("Name", "n")]);
        assert_eq!(t.creation_order().unwrap(), vec!["D", "Q", "B"]);
    }

    #[test]
    fn parameters_need_a_value_and_respect_allowed_values() {
        let t = Template::parse(T).unwrap();
        let pseudo = Pseudo {
            stack_name: "st".into(),
            region: "r".into(),
            account_id: "1".into(),
        };
        let err = Resolver::new(&t, &BTreeMap::new(), &pseudo).unwrap_err().to_string();
        assert!(err.contains("Name"), "{err}");
        let bad = BTreeMap::from([
            ("Name".to_string(), "n".to_string()),
            ("Stage".to_string(), "qa".to_string()),
        ]);
        assert!(Resolver::new(&t, &bad, &pseudo).is_err());
        let unknown = BTreeMap::from([
            ("Name".to_string(), "n".to_string()),
            ("Zzz".to_string(), "1".to_string()),
        ]);
        assert!(Resolver::new(&t, &unknown, &pseudo).is_err());
    }

    #[test]
    fn parameters_respect_their_length_and_pattern() {
        let t = Template::parse(T).unwrap();
        let pseudo = Pseudo {
            stack_name: "st".into(),
            region: "r".into(),
            account_id: "1".into(),
        };
        let name = |value: &str| {
            let overrides = BTreeMap::from([("Name".to_string(), value.to_string())]);
            Resolver::new(&t, &overrides, &pseudo)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(name("shop-1"), Ok(()));
        assert!(name("").unwrap_err().contains("shorter than 1"));
        assert!(name("shop-12345").unwrap_err().contains("longer than 8"));
        // The whole value must match, not a part of it.
        assert!(name("1shop").unwrap_err().contains("does not match"));
        assert!(name("shop 1").unwrap_err().contains("does not match"));
    }
}
