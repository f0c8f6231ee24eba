//! The ports' implementations: DynamoDB and in-memory order stores, FPS as the payment
//! gateway, and the AWS SDK configuration they share.

pub mod aws;
pub mod dynamodb;
pub mod fps;
pub mod memory;
