//! The DynamoDB order store against a real DynamoDB-protocol server (moto's, started by
//! `make test` / `infra/local/test.sh`). Each test makes its own table. One test binary; a
//! module per concern.

mod due_index;
mod listing;
mod support;
mod table;
mod writes;
