//! The use cases, generic over the ports: the buyer's checkout, the merchant's settlement, and
//! FPS's notifications.

pub mod after_sale;
pub mod checkout;
pub mod notify;
pub mod settle;
