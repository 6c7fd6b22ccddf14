//! What the sales tools take and give: their parameters (with the descriptions the model reads) and
//! their structured results beside the summary module's.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    store::{Customer, Order},
    summary::GroupBy,
};

/// Years `sales_summary` and `top_products` accept.
pub(super) const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;
/// Most products `top_products` returns.
pub const MAX_TOP: u32 = 50;
/// Longest `flag_order` reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListCustomersArgs {
    /// Part of a customer's name or city, any case. Omit to list every customer.
    #[serde(default)]
    pub search: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerOrdersArgs {
    /// The customer's id, as shown by `list_customers`.
    pub customer_id: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesSummaryArgs {
    /// Calendar year, e.g. 2026.
    pub year: i32,
    /// How to group the year's orders: `month` (12 rows), `quarter` (4 rows) or `product`.
    pub group_by: GroupBy,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopProductsArgs {
    /// Calendar year, e.g. 2026.
    pub year: i32,
    /// How many products to return, 1 to 50.
    pub limit: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagOrderArgs {
    /// The order's id, as shown by `get_customer_orders`.
    pub order_id: i64,
    /// Why the order needs review (1 to 500 characters), shown to the user when asked to confirm.
    pub reason: String,
}

/// `list_customers`' structured result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CustomerList {
    pub customers: Vec<Customer>,
}

/// `get_customer_orders`' structured result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CustomerOrders {
    pub customer: Customer,
    /// Newest first.
    pub orders: Vec<Order>,
}
