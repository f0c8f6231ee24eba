//! Encoding and decoding orders as items: round trips, readable money, hostile items.

use super::*;
use rust_decimal_macros::dec;
use time::macros::datetime;
use time::Duration;

fn cart() -> PricedCart {
    PricedCart {
        lines: vec![
            PricedLine {
                sku: "TEE".into(),
                name: "T-shirt".into(),
                unit_price: dec!(12.75),
                quantity: 2,
                line_total: dec!(25.50),
            },
            PricedLine {
                sku: "MUG".into(),
                name: "Mug".into(),
                unit_price: dec!(8.10),
                quantity: 1,
                line_total: dec!(8.10),
            },
        ],
        items_total: dec!(33.60),
        tax: dec!(2.77),
        shipping: dec!(5.00),
        fees: dec!(0.50),
        total: Amount::parse("41.87").unwrap(),
    }
}

fn order(action: PaymentAction) -> Order {
    Order::new(
        "order-1".into(),
        cart(),
        action,
        datetime!(2024-05-01 12:00:00.123456789 UTC),
    )
}

fn lease(at: OffsetDateTime) -> Lease {
    Lease {
        owner: "worker-1".into(),
        expires_at: at + Duration::seconds(30),
    }
}

fn has(item: &Item, name: &str) -> bool {
    item.contains_key(name)
}

#[test]
fn sparse_index_keys_are_absent_unless_they_apply() {
    let now = datetime!(2024-05-01 12:00:01 UTC);
    // Awaiting authorisation: in neither index.
    let waiting = order(PaymentAction::Pay);
    let item = order_to_item(&waiting).unwrap();
    for name in [attr::DUE_BUCKET, attr::DUE_AT, attr::TRANSACTION_ID] {
        assert!(!has(&item, name), "{name} present in {item:?}");
    }

    // Charging: due when the lease runs out, no transaction yet.
    let charging = waiting
        .claim_for_charge("tok", Some(PaymentMethod::CreditCard), lease(now), now)
        .unwrap();
    let item = order_to_item(&charging).unwrap();
    assert!(!has(&item, attr::TRANSACTION_ID));
    assert_eq!(item[attr::DUE_BUCKET], s(super::super::due::FIRST_BUCKET));
    assert_eq!(
        item[attr::DUE_AT],
        s("2024-05-01T12:00:31.000000000Z"),
        "dueAt is the lease expiry"
    );

    // Paid: has a transaction, never due again.
    let paid = charging
        .record_transaction("TX1", TransactionStatus::Success, None, None, now)
        .unwrap();
    let item = order_to_item(&paid).unwrap();
    assert_eq!(item[attr::TRANSACTION_ID], s("TX1"));
    assert!(!has(&item, attr::DUE_BUCKET));
    assert!(!has(&item, attr::DUE_AT));
    // Nor is the lease kept once the claim is over.
    assert!(!has(&item, attr::LEASE));

    // Failed without ever reaching FPS: nothing to index.
    let failed = order(PaymentAction::Pay).fail("X", "no", now).unwrap();
    let item = order_to_item(&failed).unwrap();
    for name in [attr::DUE_BUCKET, attr::DUE_AT, attr::TRANSACTION_ID] {
        assert!(!has(&item, name), "{name} present in {item:?}");
    }
}

#[test]
fn every_field_round_trips() {
    let now = datetime!(2024-05-01 12:00:01.5 UTC);
    let reserved = order(PaymentAction::Reserve)
        .claim_for_charge("tok-9", Some(PaymentMethod::CreditCard), lease(now), now)
        .unwrap()
        .record_transaction(
            "TX9",
            TransactionStatus::Reserved,
            Some("Success".into()),
            Some("ok".into()),
            now,
        )
        .unwrap()
        .fulfil(
            Some(Amount::parse("40").unwrap()),
            Duration::ZERO,
            now + Duration::hours(1),
        )
        .unwrap()
        .unwrap();
    let mut full = reserved.clone();
    full.lease = Some(lease(now));
    full.settled_at = Some(now + Duration::days(1));
    full.return_digest = Some("digest-of-the-verified-return".into());
    full.retry_at = Some(now + Duration::hours(2));
    // Issue 15: refunds, every field of one set and one left out.
    let mut refunded = full.clone();
    refunded.refunds = vec![
        crate::domain::order::Refund {
            seq: 1,
            request_id: "req-1".into(),
            amount: Amount::parse("5.5").unwrap(),
            reason: "damaged in transit".into(),
            requested_by: "ops@shop".into(),
            requested_at: now,
            transaction_id: Some("TX-R1".into()),
            status: crate::domain::order::RefundStatus::Refunded,
            status_code: Some("Success".into()),
            status_message: Some("The refund was successful.".into()),
        },
        crate::domain::order::Refund {
            seq: 2,
            request_id: "req-2".into(),
            amount: Amount::parse("1.00").unwrap(),
            reason: "goodwill".into(),
            requested_by: "event".into(),
            requested_at: now + Duration::hours(1),
            transaction_id: None,
            status: crate::domain::order::RefundStatus::Requested,
            status_code: None,
            status_message: None,
        },
    ];
    for o in [order(PaymentAction::Pay), reserved, full, refunded] {
        let item = order_to_item(&o).unwrap();
        assert_eq!(order_from_item(&item).unwrap(), o);
    }
}

#[test]
fn items_are_readable_and_money_is_plain_decimal() {
    let item = order_to_item(&order(PaymentAction::Reserve)).unwrap();
    assert_eq!(item[attr::AMOUNT], n("41.87"));
    assert_eq!(item[attr::SHIPPING], n("5.00"));
    assert_eq!(item[attr::CURRENCY], s("USD"));
    assert_eq!(item[attr::ACTION], s("Reserve"));
    assert_eq!(item[attr::STATE], s("AwaitingAuthorization"));
    assert_eq!(item[attr::CREATED_AT], s("2024-05-01T12:00:00.123456789Z"));
    assert_eq!(item[attr::VERSION], n("0"));
    let AttributeValue::L(lines) = &item[attr::ITEMS] else {
        panic!("items is not a list");
    };
    let AttributeValue::M(first) = &lines[0] else {
        panic!("line is not a map");
    };
    assert_eq!(first[attr::LINE_UNIT_PRICE], n("12.75"));
    assert_eq!(first[attr::LINE_QUANTITY], n("2"));
}

#[test]
fn normalised_numbers_from_dynamodb_decode_to_cents() {
    let o = order(PaymentAction::Pay);
    let mut item = order_to_item(&o).unwrap();
    // Real DynamoDB answers `5` for `5.00` and `33.6` for `33.60`.
    item.insert(attr::SHIPPING.into(), n("5"));
    item.insert(attr::ITEMS_TOTAL.into(), n("33.6"));
    item.insert(attr::AMOUNT.into(), n("4.187E+1"));
    let back = order_from_item(&item).unwrap();
    assert_eq!(back, o);
    assert_eq!(back.cart.shipping.to_string(), "5.00");
    assert_eq!(back.cart.items_total.to_string(), "33.60");
}

#[test]
fn bad_items_are_corrupt_not_panics() {
    let good = order_to_item(&order(PaymentAction::Pay)).unwrap();
    let cases: Vec<(&str, Option<AttributeValue>)> = vec![
        (attr::AMOUNT, Some(s("41.87"))),
        (attr::AMOUNT, Some(n("0"))),
        (attr::AMOUNT, Some(n("lots"))),
        (attr::STATE, Some(s("Teleported"))),
        (attr::ACTION, None),
        (attr::CURRENCY, Some(s("EUR"))),
        (attr::VERSION, Some(n("-1"))),
        (attr::CREATED_AT, Some(s("yesterday"))),
        (attr::ITEMS, Some(AttributeValue::L(vec![s("x")]))),
        (attr::LEASE, Some(s("me"))),
    ];
    for (name, value) in cases {
        let mut item = good.clone();
        match value.clone() {
            Some(v) => item.insert(name.into(), v),
            None => item.remove(name),
        };
        match order_from_item(&item) {
            Err(StoreError::Corrupt {
                caller_reference,
                source,
            }) => {
                assert_eq!(caller_reference, "order-1");
                let reason = source.to_string();
                assert!(reason.contains(name), "{reason}");
            }
            other => panic!("{name} = {value:?}: {other:?}"),
        }
    }
}

#[test]
fn orders_dynamodb_cannot_index_are_refused() {
    let mut o = order(PaymentAction::Pay);
    o.transaction_id = Some(String::new());
    assert!(matches!(order_to_item(&o), Err(StoreError::Corrupt { .. })));
    let mut o = order(PaymentAction::Pay);
    o.caller_reference = String::new();
    assert!(matches!(order_to_item(&o), Err(StoreError::Corrupt { .. })));
}

#[test]
fn timestamps_sort_as_text_and_take_other_offsets() {
    let a = datetime!(2024-05-01 09:59:59.999999999 UTC);
    let b = datetime!(2024-05-01 12:00:00 +02:00); // 10:00:00Z
    let (ta, tb) = (format_timestamp(a).unwrap(), format_timestamp(b).unwrap());
    assert_eq!(tb, "2024-05-01T10:00:00.000000000Z");
    assert!(ta < tb);
    assert_eq!(ta.len(), tb.len());
    assert_eq!(parse_timestamp(&tb).unwrap(), b);
    assert_eq!(
        parse_timestamp("2024-05-01T10:00:00Z").unwrap(),
        b,
        "plain RFC 3339 is read too"
    );
    assert!(parse_timestamp("2024-05-01").is_err());
}

/// Found by fuzzing (`dynamodb_item`): a stored timestamp whose sub-second part is short and
/// followed by a sign made the `time` crate's fixed-width parser overflow (a panic with debug
/// assertions, garbage without). It is refused like any malformed timestamp.
#[test]
fn a_timestamp_with_a_short_signed_fraction_is_refused_without_panicking() {
    for text in [
        "2026-12-01T10:00:00.0000-0000Z",
        "2026-12-01T10:00:00.-00000000Z",
        "2026-12-01T10:00:00.+00000000Z",
    ] {
        assert!(parse_timestamp(text).is_err(), "{text}");
    }
    assert_eq!(
        parse_timestamp("2026-12-01T10:00:00.000000001Z").unwrap(),
        datetime!(2026-12-01 10:00:00.000000001 UTC)
    );
    // Eight digits is RFC 3339 still (any number is).
    assert_eq!(
        parse_timestamp("2026-12-01T10:00:00.00000001Z").unwrap(),
        datetime!(2026-12-01 10:00:00.00000001 UTC)
    );
}
