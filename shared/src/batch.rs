//! SQS batch handling.
