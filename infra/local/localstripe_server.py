"""localstripe, with what the hosted payment page needs from Stripe.js and a few Stripe behaviours it lacks.

The payment page uses standard Stripe.js: a card Element, then `stripe.confirmCardPayment(clientSecret,
{payment_method: {card}})`. Locally it loads localstripe's Stripe.js stand-in, whose confirmCardPayment
ignores the card: it only performs the 3-D Secure step of a PaymentIntent already in requires_action. So:
- the stand-in is served followed by STRIPE_JS_ADDITION, which confirms with the card as Stripe.js does
  (tokenize it, confirm through POST /v1/payment_intents/{id}/_confirm_card, 3-D Secure when the card asks
  for it), answers as Stripe.js does ({paymentIntent} or {error}, declines included, and a new card may be
  tried after a decline), adds stripe.retrievePaymentIntent, and gives the Element's `change` handlers an
  event ({empty, complete, error});
- a publishable key may read a PaymentIntent and confirm it with a card given its client secret, as on
  Stripe; the confirmation reuses localstripe's own (PaymentIntent._api_confirm), so charges, declines and
  webhooks are localstripe's;
- 4000000000000002, Stripe's generic decline card, is declined when charged (localstripe declines it only
  when attached to a customer);
- an `amount` updated through POST /v1/payment_intents/{id} stays an integer (localstripe stored the text);
- a partial capture captures that amount and releases the rest, and the charge reports `amount_captured`
  (localstripe captured everything and refunded the rest);
- GET /v1/account answers the account of the key (localstripe has no accounts): the app checks a tenant's
  key with it, and localstripe's authentication refuses what Stripe would (401 without a usable `sk_` key);
- a PaymentIntent keeps `shipping` (set at creation or by an update), where an express checkout puts the
  shopper's address, and `transfer_group` (a marketplace order's group), which, as on Stripe, is set once;
- Stripe Connect (accounts, account links, transfers, reversals), which localstripe lacks, comes from the
  double in stripe_connect.py, mounted on the same app.

The page comes from another loopback origin; every call of the addition is a CORS "simple" request
(form-encoded or no body, no custom header), so localstripe's Access-Control-Allow-Origin is enough and no
preflight (which localstripe would not answer) is needed.

Usage: python localstripe_server.py PORT   (on 127.0.0.1; localstripe's own CLI binds every interface)
"""

import re
import sys

from aiohttp import web
from localstripe import server
from localstripe.errors import UserError
from localstripe.resources import Charge, PaymentIntent, PaymentMethod, StripeObject, Token, try_convert_to_int

import stripe_connect

# Stripe's generic decline test card.
GENERIC_DECLINE_CARD = "4000000000000002"

# The Stripe.js calls a publishable key may make on a PaymentIntent given its client secret, by method:
# read it, and confirm it with a card.
_CLIENT_SECRET_ROUTES = {
    "GET": re.compile(r"^/v1/payment_intents/(pi_\w+)$"),
    "POST": re.compile(r"^/v1/payment_intents/(pi_\w+)/_confirm_card$"),
}

STRIPE_JS_ADDITION = r"""
// Added by infra/local/localstripe_server.py: confirmCardPayment with the card Element, as Stripe.js does.
(function () {
  // The fields of a mounted card Element as Stripe.js checks them: the first problem of each, in the
  // Element's order. An `invalid` problem is reported at once (typing on cannot fix it); an incomplete
  // field only stops a confirmation.
  function cardProblems(element) {
    const value = name => (element._inputs ? element._inputs[name].value.trim() : '');
    const number = value('number'), month = value('exp_month'), year = value('exp_year');
    const cvc = value('cvc');
    const problems = [];
    const add = (invalid, code, message) =>
      problems.push({invalid, error: {type: 'validation_error', code, message}});

    if (/\D/.test(number) || number.length > 16 || (number.length === 16 && !luhnValid(number))) {
      add(true, 'invalid_number', 'Your card number is invalid.');
    } else if (number.length < 16) {
      add(false, 'incomplete_number', 'Your card number is incomplete.');
    }
    if (/\D/.test(month) || Number(month) > 12 || month === '00') {
      add(true, 'invalid_expiry_month', "Your card's expiration month is invalid.");
    } else if (/\D/.test(year) || year.length > 2) {  // the stand-in takes two digits and prefixes "20"
      add(true, 'invalid_expiry_year', "Your card's expiration year is invalid.");
    } else if (Number(month) < 1 || year.length < 2) {
      add(false, 'incomplete_expiry', "Your card's expiration date is incomplete.");
    } else if (Number(year) < new Date().getFullYear() % 100) {
      add(true, 'invalid_expiry_year_past', "Your card's expiration year is in the past.");
    }
    if (/\D/.test(cvc) || cvc.length > 3) {
      add(true, 'invalid_cvc', "Your card's security code is invalid.");
    } else if (cvc.length < 3) {
      add(false, 'incomplete_cvc', "Your card's security code is incomplete.");
    }
    return problems;
  }

  // The Luhn checksum every card number carries.
  function luhnValid(number) {
    let sum = 0;
    [...number].reverse().forEach((digit, i) => {
      const d = Number(digit) * (i % 2 ? 2 : 1);
      sum += d > 9 ? d - 9 : d;
    });
    return sum % 10 === 0;
  }

  // The event Stripe.js passes to a card Element's `change` handlers (the stand-in passes none).
  function changeEvent(element) {
    const problems = cardProblems(element);
    const invalid = problems.find(problem => problem.invalid);
    return {
      elementType: 'card',
      empty: Object.values(element._inputs).every(input => input.value === ''),
      complete: problems.length === 0,
      error: invalid ? invalid.error : undefined,
    };
  }

  const on = Element.prototype.on;
  Element.prototype.on = function (event, handler) {
    on.call(this, event, event === 'change' ? () => handler(changeEvent(this)) : handler);
  };

  // A localstripe call: its JSON body, an `error` on an HTTP error status; it never throws.
  async function call(path, init) {
    try {
      const response = await fetch(`${LOCALSTRIPE_BASE_API}${path}`, init);
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        return body;
      }
      return {error: body.error || {message: `localstripe answered HTTP ${response.status}`}};
    } catch (err) {
      return {error: {type: 'api_connection_error', message: String(err)}};
    }
  }

  function paymentIntentId(clientSecret) {
    const match = /^(pi_\w+)_secret_/.exec(clientSecret);
    if (!match) {
      throw new Error(`localstripe: not a PaymentIntent client secret: ${clientSecret}`);
    }
    return match[1];
  }

  const mockStripe = window.Stripe;
  window.Stripe = (apiKey, options) => {
    const stripe = mockStripe(apiKey, options);

    // Form-encoded, so that the call needs no CORS preflight.
    const post = (path, fields) =>
      call(path, {method: 'POST', body: new URLSearchParams({key: apiKey, ...fields})});

    async function retrievePaymentIntent(clientSecret) {
      const query = new URLSearchParams({key: apiKey, client_secret: clientSecret});
      const intent = await call(`/v1/payment_intents/${paymentIntentId(clientSecret)}?${query}`);
      return intent.error ? {error: intent.error} : {paymentIntent: intent};
    }

    // A decline as Stripe.js reports it: a card_error carrying the PaymentIntent (localstripe's 402 has
    // neither), so that the page can offer another card for the same PaymentIntent.
    async function declined(error, clientSecret) {
      if (error.code !== 'card_declined') {
        return {error};
      }
      const {paymentIntent} = await retrievePaymentIntent(clientSecret);
      return {error: {...error, type: 'card_error', payment_intent: paymentIntent}};
    }

    // The 3-D Secure step: the stand-in's modal, then localstripe's _authenticate with the answer.
    async function authenticate(clientSecret) {
      const success = await openModal('3D Secure\nDo you want to confirm or cancel?',
                                      'Complete authentication', 'Fail authentication');
      const intent = await post(
        `/v1/payment_intents/${paymentIntentId(clientSecret)}/_authenticate?success=${success}`,
        {client_secret: clientSecret});
      if (intent.error) {
        return declined(intent.error, clientSecret);
      }
      if (intent.status === 'requires_payment_method') {  // authentication failed
        return {error: {type: 'invalid_request_error', ...intent.last_payment_error,
                        payment_intent: intent}};
      }
      return {paymentIntent: intent};
    }

    // With a card Element: check and tokenize the card, have localstripe confirm the PaymentIntent with
    // it, then authenticate when the card asks for it. Without one: the authentication step alone, as
    // the stand-in did.
    async function confirmCardPayment(clientSecret, data) {
      const card = data && data.payment_method && data.payment_method.card;
      if (!(card instanceof Element)) {
        return authenticate(clientSecret);
      }
      const [problem] = cardProblems(card);
      if (problem) {
        return {error: problem.error};
      }
      const {token, error} = await stripe.createToken(card);
      if (error) {
        return {error};
      }
      const intent = await post(`/v1/payment_intents/${paymentIntentId(clientSecret)}/_confirm_card`, {
        client_secret: clientSecret,
        'payment_method_data[type]': 'card',
        'payment_method_data[card][token]': token.id,
      });
      if (intent.error) {
        return declined(intent.error, clientSecret);
      }
      return intent.status === 'requires_action' ? authenticate(clientSecret) : {paymentIntent: intent};
    }

    return Object.assign(stripe, {confirmCardPayment, retrievePaymentIntent});
  };
})();
"""


@web.middleware
async def _with_stripe_js_addition(request, handler):
    """localstripe's Stripe.js stand-in, followed by STRIPE_JS_ADDITION."""
    response = await handler(request)
    if request.path == "/js.stripe.com/v3/" and response.status == 200:
        response.text = response.text + STRIPE_JS_ADDITION
    return response


@web.middleware
async def _auth_middleware(request, handler):
    """localstripe's auth_middleware, and the _CLIENT_SECRET_ROUTES with a publishable key (`key`) and the
    PaymentIntent's `client_secret`, checked as localstripe's _authenticate checks them."""
    route = _CLIENT_SECRET_ROUTES.get(request.method)
    match = route and route.match(request.path)
    if not match or server.get_api_key(request) is not None:
        return await server.auth_middleware(request, handler)
    if request.method == "POST":
        data = await server.get_post_data(request, remove_auth=False) or {}
    else:
        data = server.unflatten_data(request.query)
    key = data.get("key")
    if not (isinstance(key, str) and key.startswith("pk_")):
        raise UserError(401, "Unauthorized")
    if data.get("client_secret") != PaymentIntent._api_retrieve(match[1]).client_secret:
        raise UserError(401, "Unauthorized")
    return await handler(request)


async def _confirm_card(request):
    """POST /v1/payment_intents/{id}/_confirm_card with client_secret and payment_method_data[card][token]
    (a token of POST /v1/tokens): the token's card becomes the PaymentIntent's payment method, and
    localstripe confirms it. Allowed in requires_payment_method (also after a declined or unauthenticated
    attempt) and requires_confirmation. Answers the PaymentIntent, or localstripe's 402 on a decline."""
    data = await server.get_post_data(request) or {}
    try:
        token_id = data["payment_method_data"]["card"]["token"]
        assert isinstance(token_id, str)
    except (KeyError, TypeError, AssertionError):
        raise UserError(400, "Bad request")
    intent = PaymentIntent._api_retrieve(request.match_info["id"])
    if intent.status not in ("requires_payment_method", "requires_confirmation"):
        raise UserError(
            400,
            f"This PaymentIntent's status is {intent.status}, it cannot be confirmed with a card.",
            {"code": "payment_intent_unexpected_state"},
        )
    card = Token._api_retrieve(token_id).card
    intent.payment_method = card.id
    # A new attempt: the last one's failed charge no longer makes the status requires_payment_method.
    intent.latest_charge = None
    PaymentIntent._api_confirm(intent.id)
    return server.json_response(intent._export())


_charging_is_declined = PaymentMethod._charging_is_declined


def _charging_is_declined_like_stripe(self):
    """localstripe's charge declines, and Stripe's generic decline card (Card delegates here too)."""
    return _charging_is_declined(self) or (self.type == "card" and self._card_number == GENERIC_DECLINE_CARD)


def _update_with_integer_amount(self, **data):
    """PaymentIntent update with `amount` converted from the form-encoded text, as at creation, and a
    `transfer_group` that only an intent without one takes (Stripe: "only if it hasn't been set")."""
    if "transfer_group" in data and self.transfer_group is not None:
        raise UserError(400, "transfer_group can only be set once")
    if "amount" in data:
        amount = try_convert_to_int(data["amount"])
        if not (isinstance(amount, int) and amount > 0):
            raise UserError(400, "Bad request")
        data["amount"] = amount
    StripeObject._update(self, **data)


def _capture_like_stripe(self, amount, on_success=None):
    """Charge capture as on Stripe: `amount` is captured, the rest released (no refund), and reported."""
    amount = self.amount if amount is None else try_convert_to_int(amount)
    if not (isinstance(amount, int) and 0 <= amount <= self.amount) or self.captured or self.status != "succeeded":
        raise UserError(400, "Bad request")

    def on_success_capture():
        self.captured = True
        self.amount_captured = amount
        if on_success:
            on_success()

    self._trigger_payment(on_success=on_success_capture)


_intent_init = PaymentIntent.__init__


def _init_with_shipping(self, shipping=None, transfer_group=None, **data):
    """PaymentIntent creation as localstripe's, keeping `shipping` and `transfer_group`."""
    _intent_init(self, **data)
    self.shipping = shipping
    self.transfer_group = transfer_group


async def _account(request):
    """GET /v1/account: the (only) account, for a key localstripe's auth_middleware accepted."""
    return web.json_response({"id": "acct_localstripe", "object": "account", "charges_enabled": True,
                              "details_submitted": True, "type": "standard"})


PaymentMethod._charging_is_declined = _charging_is_declined_like_stripe
Charge._capture = _capture_like_stripe
PaymentIntent._update = _update_with_integer_amount
PaymentIntent.__init__ = _init_with_shipping

app = server.app
app.middlewares[app.middlewares.index(server.auth_middleware)] = _auth_middleware
app.middlewares.append(_with_stripe_js_addition)
app.router.add_post("/v1/payment_intents/{id}/_confirm_card", _confirm_card)
app.router.add_get("/v1/account", _account)
stripe_connect.mount(app)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]))
