//! Creates the order table (idempotent) on whatever endpoint the AWS configuration names —
//! moto's server for the local dev stack:
//!
//! ```sh
//! eval "$(infra/local/moto.sh start)"
//! cargo run -p checkout-core --example create-table -- orders
//! ```
//!
//! Prints the definition as CloudFormation-shaped JSON with `--print-definition` (no AWS call).

use std::process::ExitCode;

use checkout_core::adapters::dynamodb::{
    client_from_env, create_table, table_definition, TableCreation,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag] if flag == "--print-definition" => {
            match serde_json::to_string_pretty(&table_definition()) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("create-table: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        [name] if !name.starts_with('-') => {
            let client = client_from_env().await;
            match create_table(&client, name).await {
                Ok(TableCreation::Created) => {
                    println!("created table {name}");
                    ExitCode::SUCCESS
                }
                Ok(TableCreation::AlreadyExisted) => {
                    println!("table {name} already exists with the expected keys and indexes");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("create-table: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: create-table <table-name> | --print-definition");
            ExitCode::from(2)
        }
    }
}
