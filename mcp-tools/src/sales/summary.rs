//! Sales aggregation, apart from storage so it can be tested on its own: a year's order lines
//! grouped by month, quarter or product, and the best-selling products of a year.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One order as the aggregation reads it.
#[derive(Debug, Clone)]
pub struct OrderLine {
    pub ordered_on: NaiveDate,
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

impl OrderLine {
    fn revenue_cents(&self) -> i64 {
        self.quantity * self.unit_price_cents
    }
}

/// How `sales_summary` groups a year's orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Twelve rows, January to December (months without orders show zeros).
    Month,
    /// Four rows, Q1 to Q4.
    Quarter,
    /// One row per product sold that year, by product id.
    Product,
}

/// Orders, units and revenue of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Totals {
    /// Number of orders.
    pub orders: i64,
    /// Units sold.
    pub units: i64,
    /// Revenue in euro cents.
    pub revenue_cents: i64,
}

impl Totals {
    fn add(&mut self, line: &OrderLine) {
        self.orders += 1;
        self.units += line.quantity;
        self.revenue_cents += line.revenue_cents();
    }
}

/// One group of a summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SummaryRow {
    /// Stable key: `2026-03` (month), `Q1` (quarter) or the product id.
    pub key: String,
    /// Display label: `Mar 2026`, `Q1 2026` or the product name.
    pub label: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// `sales_summary`'s structured result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SalesSummary {
    pub year: i32,
    pub group_by: GroupBy,
    /// The groups, in calendar order (month, quarter) or by product id.
    pub rows: Vec<SummaryRow>,
    /// The whole year.
    pub total: Totals,
}

/// One product of `top_products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RankedProduct {
    /// 1 for the best seller.
    pub rank: u32,
    pub product_id: i64,
    pub name: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// `top_products`' structured result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TopProducts {
    pub year: i32,
    /// By revenue, highest first (ties: lower product id first).
    pub products: Vec<RankedProduct>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Groups the lines of `year` (others are ignored).
pub fn summarize(year: i32, group_by: GroupBy, lines: &[OrderLine]) -> SalesSummary {
    let lines = lines.iter().filter(|line| line.ordered_on.year() == year);
    let mut total = Totals::default();
    let rows = match group_by {
        GroupBy::Month | GroupBy::Quarter => {
            let (groups, of): (usize, fn(&NaiveDate) -> usize) = match group_by {
                GroupBy::Month => (12, |date| date.month0() as usize),
                _ => (4, |date| date.month0() as usize / 3),
            };
            let mut totals = vec![Totals::default(); groups];
            for line in lines {
                totals[of(&line.ordered_on)].add(line);
                total.add(line);
            }
            totals
                .into_iter()
                .enumerate()
                .map(|(index, totals)| match group_by {
                    GroupBy::Month => SummaryRow {
                        key: format!("{year}-{:02}", index + 1),
                        label: format!("{} {year}", MONTHS[index]),
                        totals,
                    },
                    _ => SummaryRow {
                        key: format!("Q{}", index + 1),
                        label: format!("Q{} {year}", index + 1),
                        totals,
                    },
                })
                .collect()
        }
        GroupBy::Product => {
            let mut products: BTreeMap<i64, (String, Totals)> = BTreeMap::new();
            for line in lines {
                products
                    .entry(line.product_id)
                    .or_insert_with(|| (line.product_name.clone(), Totals::default()))
                    .1
                    .add(line);
                total.add(line);
            }
            products
                .into_iter()
                .map(|(id, (name, totals))| SummaryRow {
                    key: id.to_string(),
                    label: name,
                    totals,
                })
                .collect()
        }
    };
    SalesSummary {
        year,
        group_by,
        rows,
        total,
    }
}

/// The `limit` products of `year` with the highest revenue.
pub fn top_products(year: i32, limit: usize, lines: &[OrderLine]) -> TopProducts {
    let mut rows = summarize(year, GroupBy::Product, lines).rows;
    rows.sort_by(|a, b| {
        b.totals
            .revenue_cents
            .cmp(&a.totals.revenue_cents)
            .then_with(|| a.key.parse::<i64>().ok().cmp(&b.key.parse::<i64>().ok()))
    });
    let products = rows
        .into_iter()
        .take(limit)
        .zip(1..)
        .map(|(row, rank)| RankedProduct {
            rank,
            product_id: row.key.parse().unwrap_or_default(),
            name: row.label,
            totals: row.totals,
        })
        .collect();
    TopProducts { year, products }
}

/// `1234567` cents → `12,345.67 EUR`.
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02} EUR", cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(date: &str, product_id: i64, quantity: i64, unit_price_cents: i64) -> OrderLine {
        OrderLine {
            ordered_on: date.parse().unwrap(),
            product_id,
            product_name: format!("Product {product_id}"),
            quantity,
            unit_price_cents,
        }
    }

    fn lines() -> Vec<OrderLine> {
        vec![
            line("2026-01-15", 1, 2, 1_000), // 20.00
            line("2026-02-01", 2, 1, 5_000), // 50.00
            line("2026-03-31", 1, 1, 1_000), // 10.00
            line("2026-04-01", 3, 3, 2_000), // 60.00
            line("2026-12-31", 2, 2, 5_000), // 100.00
            line("2025-12-31", 1, 9, 9_999), // another year: ignored
            line("2027-01-01", 3, 9, 9_999), // another year: ignored
        ]
    }

    #[test]
    fn months_are_twelve_calendar_rows_with_zeros_and_a_year_total() {
        let summary = summarize(2026, GroupBy::Month, &lines());
        assert_eq!(summary.rows.len(), 12);
        assert_eq!(summary.rows[0].key, "2026-01");
        assert_eq!(summary.rows[0].label, "Jan 2026");
        assert_eq!(
            summary.rows[0].totals,
            Totals {
                orders: 1,
                units: 2,
                revenue_cents: 2_000
            }
        );
        assert_eq!(summary.rows[4].totals, Totals::default());
        assert_eq!(summary.rows[11].totals.revenue_cents, 10_000);
        assert_eq!(
            summary.total,
            Totals {
                orders: 5,
                units: 9,
                revenue_cents: 24_000
            }
        );
        let sum: i64 = summary.rows.iter().map(|r| r.totals.revenue_cents).sum();
        assert_eq!(sum, summary.total.revenue_cents);
    }

    #[test]
    fn quarters_split_at_quarter_boundaries() {
        let summary = summarize(2026, GroupBy::Quarter, &lines());
        let revenue: Vec<i64> = summary
            .rows
            .iter()
            .map(|r| r.totals.revenue_cents)
            .collect();
        // 31 March is Q1, 1 April is Q2.
        assert_eq!(revenue, [8_000, 6_000, 0, 10_000]);
        assert_eq!(summary.rows[1].key, "Q2");
        assert_eq!(summary.rows[1].label, "Q2 2026");
    }

    #[test]
    fn products_group_by_id_and_top_products_rank_by_revenue() {
        let summary = summarize(2026, GroupBy::Product, &lines());
        let keys: Vec<&str> = summary.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["1", "2", "3"]);
        assert_eq!(summary.rows[0].totals.units, 3);
        assert_eq!(summary.total.orders, 5);

        let top = top_products(2026, 2, &lines());
        let ranked: Vec<(u32, i64, i64)> = top
            .products
            .iter()
            .map(|p| (p.rank, p.product_id, p.totals.revenue_cents))
            .collect();
        assert_eq!(ranked, [(1, 2, 15_000), (2, 3, 6_000)]);
        // A year without orders is empty, not an error.
        assert!(top_products(2024, 5, &lines()).products.is_empty());
        assert!(summarize(2024, GroupBy::Product, &lines()).rows.is_empty());
        assert_eq!(summarize(2024, GroupBy::Quarter, &lines()).rows.len(), 4);
    }

    #[test]
    fn ties_rank_the_lower_product_id_first() {
        let lines = vec![line("2026-05-05", 7, 1, 500), line("2026-05-06", 3, 1, 500)];
        let top = top_products(2026, 10, &lines);
        assert_eq!(top.products[0].product_id, 3);
        assert_eq!(top.products[1].product_id, 7);
    }

    #[test]
    fn euros_group_thousands() {
        assert_eq!(euros(0), "0.00 EUR");
        assert_eq!(euros(99), "0.99 EUR");
        assert_eq!(euros(1_234_567), "12,345.67 EUR");
        assert_eq!(euros(-100_000), "-1,000.00 EUR");
    }
}
