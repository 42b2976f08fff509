"""moto server, with DynamoDB writes serialized.

moto's TransactWriteItems rolls a failed transaction back by putting back a deep copy of the whole table
taken when the transaction began. Its server is threaded, so a write that another request made in that
window is lost with the rollback: state goes backwards, which AWS never does. One lock around every
DynamoDB write (single-item, batch and transactional) closes the window; reads stay concurrent, and
every other service (SQS long polls included) is untouched.

Usage: python moto_server.py [-H HOST] [-p PORT]   (the arguments of moto_server)
"""

import functools
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_WRITES = threading.RLock()


def _serialized(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _WRITES:
            return method(*args, **kwargs)

    return locked


for _name in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"):
    setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main()
