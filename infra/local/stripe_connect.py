"""A Stripe Connect double beside localstripe (which has no Connect), for the marketplace's calls:
Express accounts, Account Links, transfers and transfer reversals, on Stripe's routes and in Stripe's
shapes (https://docs.stripe.com/api/accounts, /api/account_links, /api/transfers,
/api/transfer_reversals). localstripe_server.py mounts it on localstripe's app, so the app reaches it
under the same base URL and key check as the rest of Stripe.

What it keeps of Stripe's rules:
- Idempotency-Key: a POST repeated with the same key answers the first answer (status and body) and
  does nothing again, as Stripe does for 24 h;
- a transfer goes only to an account that can receive it (onboarded: `payouts_enabled`), and one funded
  by a charge (`source_transaction`) moves at most what that charge captured less what it refunded less
  what earlier transfers from it moved;
- a reversal takes back at most what is left of its transfer.

A merchant cannot fill in Stripe's hosted onboarding here: `POST /v1/accounts/{id}/_onboard` (not a
Stripe route) stands for that, and answers the account as Stripe would then report it in
`account.updated` (the caller signs and delivers that event).
"""

import itertools
import time

from aiohttp import web
from localstripe import server
from localstripe.errors import UserError
from localstripe.resources import Charge, try_convert_to_int

_ids = itertools.count(1)
_accounts = {}
_transfers = {}
# (key, route) -> (status, body): the first answer to a POST with an Idempotency-Key.
_answers = {}

_DUE = ["business_profile.url", "external_account", "tos_acceptance.date"]


def _new_id(prefix):
    return f"{prefix}_{int(time.time())}{next(_ids):06d}"


def _idempotent(handler):
    """Replays the first answer to a POST with the same Idempotency-Key on the same route."""

    async def wrapped(request):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return await handler(request)
        slot = (key, request.path)
        if slot not in _answers:
            try:
                body, status = await handler(request), 200
            except UserError as e:
                response = e.to_response()
                _answers[slot] = (response.status, response.text)
                return response
            _answers[slot] = (status, body.text)
        status, text = _answers[slot]
        return web.Response(status=status, text=text, content_type="application/json")

    return wrapped


def _json(body):
    return server.json_response(body)


def _missing(kind, id):
    return UserError(404, f"No such {kind}: '{id}'", {"code": "resource_missing"})


async def _form(request):
    return await server.get_post_data(request) or {}


async def _create_account(request):
    data = await _form(request)
    account = {
        "id": _new_id("acct"), "object": "account", "type": data.get("type", "express"),
        "created": int(time.time()), "country": "DE", "default_currency": "eur",
        "business_profile": data.get("business_profile", {}),
        "capabilities": {k: "inactive" for k in (data.get("capabilities") or {})},
        "charges_enabled": False, "payouts_enabled": False, "details_submitted": False,
        "metadata": data.get("metadata", {}),
        "requirements": {"currently_due": list(_DUE), "eventually_due": list(_DUE), "past_due": [],
                         "current_deadline": None, "disabled_reason": "requirements.past_due"},
    }
    _accounts[account["id"]] = account
    return _json(account)


def _account_of(id):
    if id not in _accounts:
        raise _missing("account", id)
    return _accounts[id]


async def _retrieve_account(request):
    return _json(_account_of(request.match_info["id"]))


async def _onboard(request):
    """The merchant finished Stripe's onboarding: everything submitted, payments and payouts enabled."""
    account = _account_of(request.match_info["id"])
    account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True,
                   capabilities={k: "active" for k in account["capabilities"]})
    account["requirements"].update(currently_due=[], eventually_due=[], past_due=[], disabled_reason=None)
    return _json(account)


async def _create_account_link(request):
    data = await _form(request)
    account = _account_of(data.get("account"))
    if not (data.get("refresh_url") and data.get("return_url")) or data.get("type") != "account_onboarding":
        raise UserError(400, "Missing refresh_url, return_url or type=account_onboarding")
    created = int(time.time())
    return _json({"object": "account_link", "created": created, "expires_at": created + 300,
                  "url": f"{request.scheme}://{request.host}/connect/setup/{account['id']}/{next(_ids)}"})


def _moved_from(charge_id):
    return sum(t["amount"] for t in _transfers.values() if t["source_transaction"] == charge_id)


async def _create_transfer(request):
    data = await _form(request)
    amount = try_convert_to_int(data.get("amount"))
    if not (isinstance(amount, int) and amount > 0) or not data.get("currency"):
        raise UserError(400, "Invalid amount or currency", {"param": "amount"})
    account = _account_of(data.get("destination"))
    if not account["payouts_enabled"]:
        raise UserError(400, "The destination account cannot receive transfers yet: its onboarding is not "
                        "complete.", {"code": "account_invalid"})
    source = data.get("source_transaction")
    if source is not None:
        charge = Charge._api_retrieve(source)
        captured = getattr(charge, "amount_captured", charge.amount if charge.captured else 0)
        available = captured - charge.amount_refunded - _moved_from(source)
        if amount > available:
            raise UserError(400, f"Insufficient funds: the source transaction has {available} left.",
                            {"code": "balance_insufficient", "param": "amount"})
    transfer = {
        "id": _new_id("tr"), "object": "transfer", "amount": amount, "amount_reversed": 0,
        "currency": data["currency"], "created": int(time.time()), "destination": account["id"],
        "source_transaction": source, "transfer_group": data.get("transfer_group"),
        "metadata": data.get("metadata", {}), "reversed": False,
        "reversals": {"object": "list", "data": [], "has_more": False},
    }
    _transfers[transfer["id"]] = transfer
    return _json(transfer)


def _transfer_of(id):
    if id not in _transfers:
        raise _missing("transfer", id)
    return _transfers[id]


async def _retrieve_transfer(request):
    return _json(_transfer_of(request.match_info["id"]))


async def _create_reversal(request):
    transfer = _transfer_of(request.match_info["id"])
    data = await _form(request)
    left = transfer["amount"] - transfer["amount_reversed"]
    amount = try_convert_to_int(data.get("amount", left))
    if not (isinstance(amount, int) and 0 < amount <= left):
        raise UserError(400, f"Amount must be no more than {left}.",
                        {"code": "parameter_invalid_integer", "param": "amount"})
    reversal = {"id": _new_id("trr"), "object": "transfer_reversal", "amount": amount,
                "currency": transfer["currency"], "created": int(time.time()), "transfer": transfer["id"],
                "metadata": data.get("metadata", {})}
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["reversals"]["data"].append(reversal)
    return _json(reversal)


def mount(app):
    """Adds the Connect routes to localstripe's `app`."""
    app.router.add_post("/v1/accounts", _idempotent(_create_account))
    app.router.add_get("/v1/accounts/{id}", _retrieve_account)
    app.router.add_post("/v1/accounts/{id}/_onboard", _onboard)
    app.router.add_post("/v1/account_links", _create_account_link)
    app.router.add_post("/v1/transfers", _idempotent(_create_transfer))
    app.router.add_get("/v1/transfers/{id}", _retrieve_transfer)
    app.router.add_post("/v1/transfers/{id}/reversals", _idempotent(_create_reversal))
