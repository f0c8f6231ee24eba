//! The ports' implementations: DynamoDB and in-memory order stores, FPS as the payment
//! gateway, EventBridge for order events, and the AWS SDK configuration they share.

pub mod aws;
pub mod dynamodb;
pub mod eventbridge;
pub mod fps;
pub mod memory;
