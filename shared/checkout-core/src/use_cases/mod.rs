//! The use cases, generic over the ports: the buyer's checkout and the merchant's settlement.

pub mod checkout;
pub mod settle;
