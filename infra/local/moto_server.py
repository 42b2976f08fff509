"""moto server, with DynamoDB writes and EventBridge bus changes serialized, and DynamoDB transactions
rolled back item by item.

moto's TransactWriteItems rolls a failed transaction back by putting back a deep copy of each table it
touched, taken when the transaction began. Two things go wrong with that on a busy stack:
- its server is threaded, so a write that another request made in that window is lost with the rollback:
  state goes backwards, which AWS never does. One lock around every DynamoDB write (single-item, batch
  and transactional) closes the window; reads stay concurrent, and every other service (SQS long polls
  included) is untouched.
- the copy costs time and memory in proportion to the whole table, once per item of the transaction: after
  a few thousand payments every transaction takes a good part of a second, and concurrent ones hold
  several copies of every table at once. Here the tables are not copied; the transaction's own items are
  saved before it runs and put back if it fails, which is all the rollback needs while writes are
  serialized.

EventBridge's PutEvents walks a bus's rules while another request (a test adding its rule) may change
them: moto then fails with "OrderedDict mutated during iteration" after delivering part of the batch, the
SDK retries the whole call, and the delivered entries arrive twice. One lock around PutEvents and every
change of buses, rules and targets closes that.

Usage: python moto_server.py [-H HOST] [-p PORT]   (the arguments of moto_server)
"""

import copy
import functools
import threading

from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.events.models import EventsBackend
from moto.server import main

_WRITES = threading.RLock()
_BUSES = threading.RLock()


def _serialized(method, lock=_WRITES):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with lock:
            return method(*args, **kwargs)

    return locked


class _TablesKept:
    """Stands in for the `copy` module inside moto.dynamodb.models: a table is not copied (the transaction
    wrapper below saves the items it touches instead); anything else is."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched_items(backend, transact_items):
    """(table, hash key, range key, a copy of the item or None) for every item the transaction names."""
    saved = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            hash_key, range_key = backend.get_keys_value(table, key)
        except Exception:  # a malformed operation: moto refuses it before it writes anything
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return saved


def _restore(saved):
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            table.delete_item(hash_key, range_key)
        elif range_key:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item


def _rolled_back_by_item(transact_write_items):
    @functools.wraps(transact_write_items)
    def transact(self, transact_items, *args, **kwargs):
        with _WRITES:
            saved = _touched_items(self, transact_items)
            try:
                return transact_write_items(self, transact_items, *args, **kwargs)
            except Exception:
                _restore(saved)
                raise

    return transact


models.copy = _TablesKept
for _name in ("put_item", "update_item", "delete_item", "batch_write_item"):
    setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))
DynamoDBBackend.transact_write_items = _rolled_back_by_item(DynamoDBBackend.transact_write_items)
for _name in (
    "put_events",
    "put_rule",
    "delete_rule",
    "enable_rule",
    "disable_rule",
    "put_targets",
    "remove_targets",
    "create_event_bus",
    "delete_event_bus",
):
    setattr(EventsBackend, _name, _serialized(getattr(EventsBackend, _name), _BUSES))

if __name__ == "__main__":
    main()
