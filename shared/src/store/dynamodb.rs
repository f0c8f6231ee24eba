//! DynamoDB adapter for [`super::OrderStore`] (to be written).
