//! `template.yaml` (SAM) against the code: the order table's keys and indexes, the functions'
//! builds, routes, permissions and configuration, and the sample events in `infra/events/`.
//! One test binary; a module per concern.

mod configuration;
mod events;
mod functions;
mod observability;
mod order_table;
mod routes;
mod support;
