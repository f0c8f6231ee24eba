//! The catalog and the pricing rule, both from configuration, and server-side cart pricing:
//! TransactionAmount = items + tax + shipping + fees, never taken from the browser.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::domain::money::{Amount, AmountError};

pub const MIN_QUANTITY: u32 = 1;
pub const MAX_QUANTITY: u32 = 99;
pub const MAX_LINES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub unit_price: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub products: Vec<Product>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog JSON is invalid: {0}")]
    Json(String),
    #[error("pricing rule is invalid: {0}")]
    Pricing(String),
    #[error("catalog is empty")]
    Empty,
    #[error("product {sku:?}: {reason}")]
    Product { sku: String, reason: String },
}

impl Catalog {
    /// `{"products":[{"sku":"…","name":"…","unitPrice":"12.50"}]}`
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let catalog: Catalog =
            serde_json::from_str(text).map_err(|e| CatalogError::Json(e.to_string()))?;
        catalog.validate()?;
        Ok(catalog)
    }

    fn validate(&self) -> Result<(), CatalogError> {
        if self.products.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.products {
            let bad = |reason: &str| CatalogError::Product {
                sku: p.sku.clone(),
                reason: reason.to_owned(),
            };
            if p.sku.is_empty() || p.sku.len() > 64 {
                return Err(bad("sku must be 1 to 64 characters"));
            }
            if !seen.insert(p.sku.as_str()) {
                return Err(bad("sku appears twice"));
            }
            if p.name.trim().is_empty() {
                return Err(bad("name is empty"));
            }
            Amount::new(p.unit_price).map_err(|e| bad(&e.to_string()))?;
        }
        Ok(())
    }

    pub fn product(&self, sku: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.sku == sku)
    }
}

/// Tax, shipping and fees, from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PricingRule {
    /// Fraction of the items total, e.g. `0.0825`; rounded half away from zero to the cent.
    #[serde(default)]
    pub tax_rate: Decimal,
    /// Flat shipping per order.
    #[serde(default)]
    pub shipping: Decimal,
    /// Orders whose items total reaches this ship free.
    #[serde(default)]
    pub free_shipping_over: Option<Decimal>,
    /// Flat handling fee per order.
    #[serde(default)]
    pub handling_fee: Decimal,
}

impl PricingRule {
    /// `{"taxRate":"0.08","shipping":"5.00","freeShippingOver":"50.00","handlingFee":"0.50"}`
    pub fn from_json(text: &str) -> Result<Self, CatalogError> {
        let rule: PricingRule =
            serde_json::from_str(text).map_err(|e| CatalogError::Pricing(e.to_string()))?;
        let negative = rule.tax_rate < Decimal::ZERO
            || rule.tax_rate >= Decimal::ONE
            || rule.shipping < Decimal::ZERO
            || rule.handling_fee < Decimal::ZERO
            || rule.free_shipping_over.is_some_and(|v| v < Decimal::ZERO);
        if negative {
            return Err(CatalogError::Pricing(
                "pricing amounts must be ≥ 0 and taxRate below 1".to_owned(),
            ));
        }
        Ok(rule)
    }
}

/// What the buyer asked for: SKUs and quantities, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    pub sku: String,
    pub name: String,
    pub unit_price: Decimal,
    pub quantity: u32,
    pub line_total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedCart {
    pub lines: Vec<PricedLine>,
    pub items_total: Decimal,
    pub tax: Decimal,
    pub shipping: Decimal,
    pub fees: Decimal,
    /// The TransactionAmount sent to FPS.
    pub total: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the cart is empty")]
    EmptyCart,
    #[error("the cart has more than {MAX_LINES} lines")]
    TooManyLines,
    #[error("unknown product {0:?}")]
    UnknownSku(String),
    #[error("quantity {quantity} of {sku:?} is outside {MIN_QUANTITY}–{MAX_QUANTITY}")]
    Quantity { sku: String, quantity: u32 },
    #[error("order total is not payable: {0}")]
    Total(AmountError),
}

impl PricingError {
    /// The request field the error is about, for 400 answers.
    pub fn field(&self) -> &'static str {
        match self {
            Self::EmptyCart | Self::TooManyLines => "items",
            Self::UnknownSku(_) => "sku",
            Self::Quantity { .. } => "quantity",
            Self::Total(_) => "total",
        }
    }
}

fn cents(value: Decimal) -> Decimal {
    let mut v = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(2);
    v
}

/// Prices a cart from the catalog. Lines naming the same SKU are merged first, so the
/// quantity limit applies to the product, not to how the form was filled in.
pub fn price_cart(
    catalog: &Catalog,
    rule: &PricingRule,
    cart: &[CartLine],
) -> Result<PricedCart, PricingError> {
    if cart.len() > MAX_LINES {
        return Err(PricingError::TooManyLines);
    }
    let mut merged: BTreeMap<&str, u32> = BTreeMap::new();
    for line in cart {
        if line.quantity == 0 {
            continue;
        }
        let q = merged.entry(line.sku.as_str()).or_insert(0);
        *q = q.saturating_add(line.quantity);
    }
    if merged.is_empty() {
        return Err(PricingError::EmptyCart);
    }
    let mut lines = Vec::with_capacity(merged.len());
    let mut items_total = Decimal::ZERO;
    // Keep the catalog's order on the page and in the order record.
    for product in &catalog.products {
        if let Some(&quantity) = merged.get(product.sku.as_str()) {
            if !(MIN_QUANTITY..=MAX_QUANTITY).contains(&quantity) {
                return Err(PricingError::Quantity {
                    sku: product.sku.clone(),
                    quantity,
                });
            }
            let line_total = cents(product.unit_price * Decimal::from(quantity));
            items_total += line_total;
            lines.push(PricedLine {
                sku: product.sku.clone(),
                name: product.name.clone(),
                unit_price: cents(product.unit_price),
                quantity,
                line_total,
            });
        }
    }
    if let Some(unknown) = merged.keys().find(|sku| catalog.product(sku).is_none()) {
        return Err(PricingError::UnknownSku((*unknown).to_owned()));
    }
    let tax = cents(items_total * rule.tax_rate);
    let shipping = match rule.free_shipping_over {
        Some(threshold) if items_total >= threshold => Decimal::ZERO,
        _ => cents(rule.shipping),
    };
    let fees = cents(rule.handling_fee);
    let total = Amount::new(items_total + tax + shipping + fees).map_err(PricingError::Total)?;
    Ok(PricedCart {
        lines,
        items_total: cents(items_total),
        tax,
        shipping,
        fees,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn catalog() -> Catalog {
        Catalog::from_json(
            r#"{"products":[
                {"sku":"TEE","name":"T-shirt","unitPrice":"12.75"},
                {"sku":"MUG","name":"Mug","unitPrice":"8.10"},
                {"sku":"BIG","name":"Piano","unitPrice":"9999.00"}]}"#,
        )
        .unwrap()
    }

    fn rule() -> PricingRule {
        PricingRule::from_json(
            r#"{"taxRate":"0.0825","shipping":"5.00","freeShippingOver":"50","handlingFee":"0.50"}"#,
        )
        .unwrap()
    }

    fn line(sku: &str, quantity: u32) -> CartLine {
        CartLine {
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn total_is_items_plus_tax_shipping_and_fees() {
        let priced = price_cart(&catalog(), &rule(), &[line("TEE", 2), line("MUG", 1)]).unwrap();
        assert_eq!(priced.items_total, dec!(33.60));
        // 33.60 × 0.0825 = 2.772 → 2.77
        assert_eq!(priced.tax, dec!(2.77));
        assert_eq!(priced.shipping, dec!(5.00));
        assert_eq!(priced.fees, dec!(0.50));
        assert_eq!(priced.total.to_fps_string(), "41.87");
        assert_eq!(priced.lines.len(), 2);
        assert_eq!(priced.lines[0].line_total, dec!(25.50));
    }

    /// Issue 17 (5): tax of exactly half a cent rounds up (away from zero), where banker's
    /// rounding would round to the even cent, down, in both cases here.
    #[test]
    fn tax_of_exactly_half_a_cent_rounds_away_from_zero() {
        let catalog = Catalog::from_json(
            r#"{"products":[{"sku":"A","name":"A","unitPrice":"0.50"},
                            {"sku":"B","name":"B","unitPrice":"0.90"}]}"#,
        )
        .unwrap();
        let rule = PricingRule::from_json(r#"{"taxRate":"0.05"}"#).unwrap();
        // 0.50 × 0.05 = 0.025 → 0.03 (banker's: 0.02); 0.90 × 0.05 = 0.045 → 0.05 (0.04).
        for (sku, tax, total) in [("A", dec!(0.03), "0.53"), ("B", dec!(0.05), "0.95")] {
            let priced = price_cart(&catalog, &rule, &[line(sku, 1)]).unwrap();
            assert_eq!(priced.tax, tax, "{sku}");
            assert_eq!(priced.total.to_fps_string(), total, "{sku}");
        }
    }

    #[test]
    fn free_shipping_and_merged_lines() {
        let priced = price_cart(&catalog(), &rule(), &[line("TEE", 2), line("TEE", 2)]).unwrap();
        assert_eq!(priced.lines.len(), 1);
        assert_eq!(priced.lines[0].quantity, 4);
        assert_eq!(priced.shipping, dec!(0));
    }

    #[test]
    fn bad_carts_name_the_problem() {
        let (c, r) = (catalog(), rule());
        assert_eq!(price_cart(&c, &r, &[]), Err(PricingError::EmptyCart));
        assert_eq!(
            price_cart(&c, &r, &[line("TEE", 0)]),
            Err(PricingError::EmptyCart)
        );
        assert_eq!(
            price_cart(&c, &r, &[line("NOPE", 1)]),
            Err(PricingError::UnknownSku("NOPE".into()))
        );
        assert!(matches!(
            price_cart(&c, &r, &[line("TEE", 100)]),
            Err(PricingError::Quantity { quantity: 100, .. })
        ));
        assert!(matches!(
            price_cart(&c, &r, &[line("TEE", 60), line("TEE", 60)]),
            Err(PricingError::Quantity { quantity: 120, .. })
        ));
        assert!(matches!(
            price_cart(&c, &r, &[line("BIG", 2)]),
            Err(PricingError::Total(AmountError::TooLarge(_)))
        ));
    }

    #[test]
    fn config_is_validated() {
        assert!(Catalog::from_json("{}").is_err());
        assert!(Catalog::from_json(r#"{"products":[]}"#).is_err());
        assert!(
            Catalog::from_json(r#"{"products":[{"sku":"A","name":"a","unitPrice":"0"}]}"#).is_err()
        );
        assert!(Catalog::from_json(
            r#"{"products":[{"sku":"A","name":"a","unitPrice":"1"},{"sku":"A","name":"b","unitPrice":"1"}]}"#
        )
        .is_err());
        assert!(PricingRule::from_json(r#"{"taxRate":"-0.1"}"#).is_err());
        let unknown_field = PricingRule::from_json(r#"{"tax":"0.1"}"#).unwrap_err();
        assert!(
            unknown_field
                .to_string()
                .starts_with("pricing rule is invalid: unknown field `tax`"),
            "{unknown_field}"
        );
    }
}
