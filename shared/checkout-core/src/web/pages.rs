//! The buyer's pages, rendered with maud (every dynamic value is HTML-escaped). Self-contained:
//! inline CSS, no external assets, readable on a phone and a desktop.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use rust_decimal::Decimal;
use url::Url;

use crate::domain::catalog::{Catalog, PricedCart, PricingRule};
use crate::domain::money::format_usd;
use crate::domain::order::{Order, OrderState, PaymentAction};

const CSS: &str = r#"
:root{--ink:#1d2330;--muted:#5a6275;--line:#d9dde6;--brand:#0b5cad;--ok:#0f7b3f;--warn:#8a5a00;--bad:#b3261e;--bg:#f6f7fb}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line)}
header .wrap{display:flex;align-items:center;justify-content:space-between}
.wrap{max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
.brand{font-weight:700;color:var(--ink);text-decoration:none}
.card{background:#fff;border:1px solid var(--line);border-radius:.75rem;padding:1rem 1.25rem;margin:0 0 1rem}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.5rem .25rem;border-bottom:1px solid var(--line);vertical-align:middle}
td.num,th.num{text-align:right;white-space:nowrap}
tfoot td{border-bottom:0}
tr.total td{font-weight:700;font-size:1.1rem;border-top:2px solid var(--ink)}
input[type=number]{width:4.5rem;font:inherit;padding:.4rem;border:1px solid var(--muted);border-radius:.4rem}
.button{display:inline-block;font:inherit;font-weight:600;border:0;border-radius:.5rem;padding:.75rem 1.5rem;background:var(--brand);color:#fff;text-decoration:none;cursor:pointer}
.button.secondary{background:#fff;color:var(--brand);border:1px solid var(--brand)}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
.status{border-left:.4rem solid var(--brand);padding-left:1rem}
.status.ok{border-color:var(--ok)}.status.warn{border-color:var(--warn)}.status.bad{border-color:var(--bad)}
.muted{color:var(--muted)}
.errors{color:var(--bad);border:1px solid var(--bad);background:#fff5f5;border-radius:.5rem;padding:.75rem 1rem}
.actions{display:flex;gap:.75rem;flex-wrap:wrap;align-items:center;margin-top:1rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:30rem){.wrap{padding:.75rem}th.hide-sm,td.hide-sm{display:none}.button{width:100%;text-align:center}}
"#;

fn layout(merchant: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (merchant) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header { div.wrap { span.brand { (merchant) } span.muted { "Secure checkout with Amazon Payments" } } }
                main.wrap { (body) }
            }
        }
    }
}

/// Line items, tax, shipping, fees and the total: what the buyer pays, itemised.
fn summary(cart: &PricedCart) -> Markup {
    html! {
        table {
            caption.sr-only { "Order summary" }
            thead { tr { th scope="col" { "Item" } th.num.hide-sm scope="col" { "Price" } th.num scope="col" { "Qty" } th.num scope="col" { "Amount" } } }
            tbody {
                @for line in &cart.lines {
                    tr { td { (line.name) } td.num.hide-sm { (format_usd(line.unit_price)) } td.num { (line.quantity) } td.num { (format_usd(line.line_total)) } }
                }
            }
            tfoot {
                tr { td colspan="3" { "Items" } td.num { (format_usd(cart.items_total)) } }
                tr { td colspan="3" { "Tax" } td.num { (format_usd(cart.tax)) } }
                tr { td colspan="3" { "Shipping" } td.num { (format_usd(cart.shipping)) } }
                tr { td colspan="3" { "Fees" } td.num { (format_usd(cart.fees)) } }
                tr.total { td colspan="3" { "Total" } td.num { (cart.total) } }
            }
        }
    }
}

fn pricing_note(pricing: &PricingRule) -> String {
    let mut parts = Vec::new();
    if pricing.tax_rate > Decimal::ZERO {
        parts.push(format!(
            "tax {}%",
            (pricing.tax_rate * Decimal::ONE_HUNDRED).normalize()
        ));
    }
    if pricing.shipping > Decimal::ZERO {
        let mut s = format!("shipping {}", format_usd(pricing.shipping));
        if let Some(free) = pricing.free_shipping_over {
            s.push_str(&format!(" (free from {})", format_usd(free)));
        }
        parts.push(s);
    }
    if pricing.handling_fee > Decimal::ZERO {
        parts.push(format!("handling {}", format_usd(pricing.handling_fee)));
    }
    if parts.is_empty() {
        "No tax, shipping or fees.".to_owned()
    } else {
        format!(
            "Plus {}; the total is shown before you pay.",
            parts.join(", ")
        )
    }
}

/// The shop: every product with a quantity field, and the Pay Now button. `errors` come from a
/// rejected checkout and are shown above the form.
pub fn shop(
    merchant: &str,
    catalog: &Catalog,
    pricing: &PricingRule,
    action: PaymentAction,
    checkout_url: &str,
    errors: &[String],
) -> String {
    let button = match action {
        PaymentAction::Pay => "Pay Now",
        PaymentAction::Reserve => "Place order",
    };
    let body = html! {
        h1 { "Shop" }
        @if !errors.is_empty() {
            div.errors role="alert" {
                p { strong { "We could not start your checkout:" } }
                ul { @for e in errors { li { (e) } } }
            }
        }
        form.card method="post" action=(checkout_url) {
            table {
                caption.sr-only { "Products" }
                thead { tr { th scope="col" { "Product" } th.num scope="col" { "Price" } th.num scope="col" { "Quantity" } } }
                tbody {
                    @for (i, p) in catalog.products.iter().enumerate() {
                        tr {
                            td { label for=(format!("qty-{i}")) { (p.name) } }
                            td.num { (format_usd(p.unit_price)) }
                            td.num {
                                input type="hidden" name="sku" value=(p.sku);
                                input id=(format!("qty-{i}")) type="number" name="quantity" min="0" max="99" value="0" inputmode="numeric";
                            }
                        }
                    }
                }
            }
            p.muted { (pricing_note(pricing)) }
            @if action == PaymentAction::Reserve {
                p.muted { "Your card is authorised now and charged when your order ships." }
            }
            div.actions { button.button type="submit" { (button) } }
        }
    };
    layout(merchant, "Shop", body).into_string()
}

/// A form that starts a new checkout with the same items (after an abandon or a decline).
fn try_again_form(order: &Order, checkout_url: &str, label: &str, class: &str) -> Markup {
    html! {
        form method="post" action=(checkout_url) {
            @for line in &order.cart.lines {
                input type="hidden" name="sku" value=(line.sku);
                input type="hidden" name="quantity" value=(line.quantity);
            }
            button class=(class) type="submit" { (label) }
        }
    }
}

/// `10:45 UTC on 2026-12-02`.
fn clock_time(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:02}:{:02} UTC on {}-{:02}-{:02}",
        at.hour(),
        at.minute(),
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

/// The page for an order as it stands after the buyer's return.
pub fn outcome(merchant: &str, order: &Order, shop_url: &Url) -> String {
    let checkout_url = shop_url
        .join("checkout")
        .map(|u| u.to_string())
        .unwrap_or_default();
    // Say exactly what is known about the buyer's money: "nothing was charged" only where FPS
    // was never asked to move it or refused; while it may still move, "do not pay again".
    let confirming = "Please do not pay again: you will not be charged twice. Check again in a minute to see the result.";
    let (title, class, lead): (&str, &str, String) = match order.state {
        OrderState::Paid | OrderState::Settled => ("Thank you for your order", "ok", "Your payment was successful.".into()),
        // The order is placed and FPS accepted the payment, but it may still fail.
        OrderState::PaymentPending => (
            "Thank you for your order",
            "warn",
            format!("Amazon Payments accepted your payment and is still processing it. {confirming}"),
        ),
        OrderState::Reserved => (
            "Thank you for your order",
            "ok",
            "Your card has been authorised. It will be charged when your order ships.".into(),
        ),
        OrderState::ReservePending => (
            "Thank you for your order",
            "warn",
            format!("Amazon Payments is confirming the authorisation on your card; it will be charged only when your order ships. {confirming}"),
        ),
        OrderState::Settling | OrderState::SettlePending => (
            "Thank you for your order",
            "ok",
            "Your order has shipped and the amount authorised on your card is being charged.".into(),
        ),
        OrderState::Charging | OrderState::Reserving => (
            "We are confirming your payment",
            "warn",
            format!("Amazon Payments has not confirmed your payment yet. {confirming}"),
        ),
        OrderState::Abandoned => (
            "Payment cancelled",
            "warn",
            "You left Amazon Payments before authorising the payment. Nothing was charged.".into(),
        ),
        OrderState::Failed => (
            "Payment not completed",
            "bad",
            format!(
                "Your payment could not be completed{}. Nothing was charged.",
                order.status_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ),
        ),
        // The authorisation is unused: the buyer may try it again (this very page, POSTed).
        OrderState::DeclinedForNow => (
            "Payment declined for now",
            "warn",
            format!(
                "Amazon Payments declined the payment for now{}. Nothing was charged. You can try again with the same authorisation until {} (for example once your account can cover it), or pay another way.",
                order.status_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(),
                clock_time(order.retry_deadline()),
            ),
        ),
        OrderState::Refunding | OrderState::RefundPending => (
            "Refund under way",
            "ok",
            format!(
                "Your payment was successful, and a refund of {} is on its way back to you.",
                order.refunds.last().map(|r| r.amount.to_string()).unwrap_or_default()
            ),
        ),
        OrderState::Refunded => (
            "Order refunded",
            "ok",
            format!("Your payment was refunded in full ({}).", format_usd(order.refunded())),
        ),
        OrderState::Cancelling => (
            "Order being cancelled",
            "warn",
            "We are cancelling your order. The amount authorised on your card has not been charged, and the hold on it is being released.".into(),
        ),
        OrderState::Cancelled => (
            "Order cancelled",
            "ok",
            "Your order was cancelled. The amount authorised on your card was not charged, and the hold on it was released.".into(),
        ),
        OrderState::SettleFailed => (
            "Payment not collected",
            "bad",
            format!(
                "We could not collect the payment for your order{}. The amount authorised on your card has not been charged; the hold on it lapses on its own.",
                order.status_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ),
        ),
        OrderState::Expired => ("Authorisation expired", "bad", "The authorisation on your card expired before the order shipped. It was not charged.".into()),
        OrderState::AwaitingAuthorization => ("Waiting for your authorisation", "warn", "We have not received your authorisation yet.".into()),
        // Retries ran out with the outcome open: a person confirms it with Amazon Payments.
        OrderState::NeedsAttention => (
            "We are confirming your payment",
            "warn",
            "We are checking the status of your payment with Amazon Payments. Please do not pay again: you will not be charged twice. Look at this page again later for the result.".into(),
        ),
    };
    let unsettled = matches!(
        order.state,
        OrderState::Charging
            | OrderState::Reserving
            | OrderState::PaymentPending
            | OrderState::ReservePending
    );
    let can_retry = matches!(order.state, OrderState::Abandoned | OrderState::Failed);
    let body = html! {
        h1 { (title) }
        div.card {
            div class=(format!("status {class}")) role="status" {
                p { (lead) }
                p.muted {
                    "Order " code { (order.caller_reference) }
                    @if let Some(tx) = &order.transaction_id { " · Transaction " code { (tx) } }
                    @if let Some(status) = &order.transaction_status { " · Status: " strong { (status.as_str()) } }
                }
            }
        }
        div.card { (summary(&order.cart)) }
        div.actions {
            // An empty href is this very page: the same return, looked up again.
            @if unsettled { a.button href="" { "Check again" } }
            @if can_retry { (try_again_form(order, &checkout_url, "Try again", "button")) }
            @if order.state == OrderState::DeclinedForNow {
                // No action: the form posts back to this very URL, the signed return, which is
                // what proves the buyer is the one asking.
                form method="post" { button.button type="submit" { "Try again" } }
                (try_again_form(order, &checkout_url, "Pay another way", "button secondary"))
            }
            a.button.secondary href=(shop_url.as_str()) { "Keep shopping" }
        }
    };
    layout(merchant, title, body).into_string()
}

/// A plain error page (4xx/5xx) that names the problem and offers the way back.
pub fn error(merchant: &str, title: &str, problems: &[String], shop_url: Option<&Url>) -> String {
    let body = html! {
        h1 { (title) }
        div.errors role="alert" { ul { @for p in problems { li { (p) } } } }
        @if let Some(url) = shop_url {
            div.actions { a.button.secondary href=(url.as_str()) { "Back to the shop" } }
        }
    };
    layout(merchant, title, body).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[OrderState] = OrderState::ALL;

    fn page_for(state: OrderState) -> String {
        let catalog =
            Catalog::from_json(r#"{"products":[{"sku":"MUG","name":"Mug","unitPrice":"8.10"}]}"#)
                .unwrap();
        let pricing = PricingRule::from_json("{}").unwrap();
        let cart = crate::domain::catalog::price_cart(
            &catalog,
            &pricing,
            &[crate::domain::catalog::CartLine {
                sku: "MUG".into(),
                quantity: 1,
            }],
        )
        .unwrap();
        let action = if matches!(
            state,
            OrderState::Paid | OrderState::Charging | OrderState::PaymentPending
        ) {
            PaymentAction::Pay
        } else {
            PaymentAction::Reserve
        };
        let mut order = Order::new("o-1".into(), cart, action, time::OffsetDateTime::UNIX_EPOCH);
        order.state = state;
        outcome("Shop", &order, &Url::parse("https://shop.test/").unwrap())
    }

    #[test]
    fn pages_say_exactly_what_is_known_about_the_money() {
        for &state in ALL {
            let page = page_for(state);
            // "Nothing was charged" only where FPS was never asked to move money, or refused.
            let nothing_charged = matches!(
                state,
                OrderState::Abandoned | OrderState::Failed | OrderState::DeclinedForNow
            );
            assert_eq!(
                page.contains("Nothing was charged"),
                nothing_charged,
                "{state:?}: {page}"
            );
            // While FPS may still move the money, the buyer is told not to pay again and can
            // check again.
            let unsettled = matches!(
                state,
                OrderState::Charging
                    | OrderState::Reserving
                    | OrderState::PaymentPending
                    | OrderState::ReservePending
            );
            let open = unsettled || state == OrderState::NeedsAttention;
            assert_eq!(page.contains("do not pay again"), open, "{state:?}");
            assert_eq!(page.contains("Check again"), unsettled, "{state:?}");
            // Not yet confirmed: never shown as a success.
            if unsettled {
                assert!(page.contains(r#"class="status warn""#), "{state:?}");
            }
            if matches!(state, OrderState::Charging | OrderState::Reserving) {
                assert!(
                    !page.contains("Thank you"),
                    "{state:?}: FPS has accepted nothing yet"
                );
            }
            // Nothing sends email: no page promises one.
            assert!(!page.to_lowercase().contains("email"), "{state:?}: {page}");
        }
        let settle_failed = page_for(OrderState::SettleFailed);
        assert!(
            settle_failed.contains("not been charged"),
            "{settle_failed}"
        );
        assert!(
            settle_failed.contains("authorised on your card"),
            "{settle_failed}"
        );
    }

    /// Issue 16 (6): a decline for now offers the same authorisation again (a POST to this
    /// very return URL) until it lapses, and another way to pay.
    #[test]
    fn a_decline_for_now_offers_a_retry_until_the_authorisation_lapses() {
        let page = page_for(OrderState::DeclinedForNow);
        assert!(page.contains("declined the payment for now"), "{page}");
        assert!(page.contains("until 03:00 UTC on 1970-01-01"), "{page}");
        assert!(page.contains(r#"<form method="post"><button"#), "{page}");
        assert!(page.contains("Pay another way"), "{page}");
        assert!(page.contains(r#"class="status warn""#), "{page}");
    }

    #[test]
    fn markup_in_names_is_shown_as_text() {
        let catalog = Catalog::from_json(
            r#"{"products":[{"sku":"X","name":"<script>alert(1)</script>","unitPrice":"1.00"}]}"#,
        )
        .unwrap();
        let page = shop(
            "<b>Shop</b>",
            &catalog,
            &PricingRule::from_json("{}").unwrap(),
            PaymentAction::Pay,
            "checkout",
            &["<i>bad</i>".into()],
        );
        assert!(!page.contains("<script>alert(1)</script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<b>Shop</b>"));
        assert!(!page.contains("<i>bad</i>"));
        assert!(page.contains(r#"<html lang="en">"#));
        assert!(page.contains("Pay Now"));
    }
}
