//! The sales database (SQLite, `SALES_DATABASE_URL`): per-tenant customers, products and orders. Every
//! query is scoped to the tenant of the validated token; a tenant's demo data is generated (see
//! `seed`) on its first request.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
};

use anyhow::Context;
use schemars::JsonSchema;
use serde::Serialize;
use service_kit::sync::{read, write};
use sqlx::SqlitePool;

use super::{seed, summary::OrderLine};

/// A customer with what they bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema, sqlx::FromRow)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub city: String,
    pub email: String,
    /// Number of orders, all years.
    pub orders: i64,
    /// Revenue of all their orders, in euro cents.
    pub revenue_cents: i64,
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema, sqlx::FromRow)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    /// ISO date, `YYYY-MM-DD`.
    pub ordered_on: String,
    pub product_id: i64,
    pub product: String,
    pub quantity: i64,
    /// Price of one unit, in euro cents.
    pub unit_price_cents: i64,
    /// `quantity × unit_price_cents`.
    pub total_cents: i64,
    /// Whether the order was flagged for review (`flag_order`).
    pub flagged: bool,
    /// Why, when flagged.
    pub flag_reason: Option<String>,
}

/// The sales database.
#[derive(Clone)]
pub struct SalesStore {
    pool: SqlitePool,
    /// Tenants known to be seeded: spares the check on every call.
    seeded: Arc<RwLock<HashSet<String>>>,
}

const CUSTOMER_COLUMNS: &str = "c.id, c.name, c.city, c.email,
    COUNT(o.id) AS orders, COALESCE(SUM(o.quantity * o.unit_price_cents), 0) AS revenue_cents";

const ORDER_COLUMNS: &str = "o.id, o.customer_id, o.ordered_on, o.product_id, p.name AS product,
    o.quantity, o.unit_price_cents, o.quantity * o.unit_price_cents AS total_cents,
    o.flagged <> 0 AS flagged, o.flag_reason";

impl SalesStore {
    /// Opens (creating when missing) the SQLite database at `url` and applies `migrations_sales/`.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let pool = service_kit::db::sqlite_pool(url, 4)
            .await
            .context("opening the sales database (SALES_DATABASE_URL)")?;
        sqlx::migrate!("./migrations_sales")
            .run(&pool)
            .await
            .context("migrating the sales database")?;
        Ok(Self {
            pool,
            seeded: Arc::default(),
        })
    }

    /// Seeds `tenant`'s demo data unless it is there. Two first requests at once insert it once: the
    /// marker row is written first, in the same transaction, and the loser inserts nothing.
    async fn ensure_seeded(&self, tenant: &str) -> anyhow::Result<()> {
        if read(&self.seeded).contains(tenant) {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.context("seeding: begin")?;
        let marked = sqlx::query(
            "INSERT INTO seeded_tenants (tenant_id, seeded_at) VALUES ($1, $2)
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant)
        .bind(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .execute(&mut *tx)
        .await
        .context("seeding: marking the tenant")?
        .rows_affected();
        if marked == 1 {
            let data = seed::generate(tenant);
            for p in &data.products {
                sqlx::query(
                    "INSERT INTO products (tenant_id, id, name, category, unit_price_cents)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant)
                .bind(p.id)
                .bind(p.name)
                .bind(p.category)
                .bind(p.unit_price_cents)
                .execute(&mut *tx)
                .await
                .context("seeding products")?;
            }
            for c in &data.customers {
                sqlx::query(
                    "INSERT INTO customers (tenant_id, id, name, city, email) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant)
                .bind(c.id)
                .bind(&c.name)
                .bind(c.city)
                .bind(&c.email)
                .execute(&mut *tx)
                .await
                .context("seeding customers")?;
            }
            for o in &data.orders {
                sqlx::query(
                    "INSERT INTO orders (tenant_id, id, customer_id, product_id, quantity,
                         unit_price_cents, ordered_on) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(tenant)
                .bind(o.id)
                .bind(o.customer_id)
                .bind(o.product_id)
                .bind(o.quantity)
                .bind(o.unit_price_cents)
                .bind(o.ordered_on.format("%Y-%m-%d").to_string())
                .execute(&mut *tx)
                .await
                .context("seeding orders")?;
            }
            tracing::info!(
                customers = data.customers.len(),
                orders = data.orders.len(),
                "seeded demo sales data for a new tenant"
            );
        }
        tx.commit().await.context("seeding: commit")?;
        write(&self.seeded).insert(tenant.to_owned());
        Ok(())
    }

    /// The tenant's customers whose name or city contains `search` (any case), by id.
    pub async fn customers(
        &self,
        tenant: &str,
        search: Option<&str>,
    ) -> anyhow::Result<Vec<Customer>> {
        self.ensure_seeded(tenant).await?;
        let pattern = format!("%{}%", escape_like(search.unwrap_or_default()));
        sqlx::query_as::<_, Customer>(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers c
             LEFT JOIN orders o ON o.tenant_id = c.tenant_id AND o.customer_id = c.id
             WHERE c.tenant_id = $1 AND (c.name LIKE $2 ESCAPE '\\' OR c.city LIKE $2 ESCAPE '\\')
             GROUP BY c.id ORDER BY c.id"
        ))
        .bind(tenant)
        .bind(pattern)
        .fetch_all(&self.pool)
        .await
        .context("listing customers")
    }

    pub async fn customer(&self, tenant: &str, id: i64) -> anyhow::Result<Option<Customer>> {
        self.ensure_seeded(tenant).await?;
        sqlx::query_as::<_, Customer>(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers c
             LEFT JOIN orders o ON o.tenant_id = c.tenant_id AND o.customer_id = c.id
             WHERE c.tenant_id = $1 AND c.id = $2 GROUP BY c.id"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a customer")
    }

    /// The customer's orders, newest first.
    pub async fn customer_orders(
        &self,
        tenant: &str,
        customer_id: i64,
    ) -> anyhow::Result<Vec<Order>> {
        self.ensure_seeded(tenant).await?;
        sqlx::query_as::<_, Order>(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o
             JOIN products p ON p.tenant_id = o.tenant_id AND p.id = o.product_id
             WHERE o.tenant_id = $1 AND o.customer_id = $2 ORDER BY o.ordered_on DESC, o.id DESC"
        ))
        .bind(tenant)
        .bind(customer_id)
        .fetch_all(&self.pool)
        .await
        .context("listing a customer's orders")
    }

    pub async fn order(&self, tenant: &str, id: i64) -> anyhow::Result<Option<Order>> {
        self.ensure_seeded(tenant).await?;
        sqlx::query_as::<_, Order>(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o
             JOIN products p ON p.tenant_id = o.tenant_id AND p.id = o.product_id
             WHERE o.tenant_id = $1 AND o.id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading an order")
    }

    /// The tenant's orders of `year`, for aggregation.
    pub async fn order_lines(&self, tenant: &str, year: i32) -> anyhow::Result<Vec<OrderLine>> {
        self.ensure_seeded(tenant).await?;
        let rows: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT o.ordered_on, o.product_id, p.name, o.quantity, o.unit_price_cents FROM orders o
             JOIN products p ON p.tenant_id = o.tenant_id AND p.id = o.product_id
             WHERE o.tenant_id = $1 AND o.ordered_on >= $2 AND o.ordered_on < $3",
        )
        .bind(tenant)
        .bind(format!("{year:04}-01-01"))
        .bind(format!("{:04}-01-01", year + 1))
        .fetch_all(&self.pool)
        .await
        .context("reading a year's orders")?;
        rows.into_iter()
            .map(
                |(date, product_id, product_name, quantity, unit_price_cents)| {
                    Ok(OrderLine {
                        ordered_on: date
                            .parse()
                            .with_context(|| format!("order date {date:?}"))?,
                        product_id,
                        product_name,
                        quantity,
                        unit_price_cents,
                    })
                },
            )
            .collect()
    }

    /// Flags order `id` for review; `false` when it does not exist or is flagged already.
    pub async fn flag(
        &self,
        tenant: &str,
        id: i64,
        reason: &str,
        user_id: &str,
    ) -> anyhow::Result<bool> {
        self.ensure_seeded(tenant).await?;
        let result = sqlx::query(
            "UPDATE orders SET flagged = 1, flag_reason = $1, flagged_by = $2, flagged_at = $3
             WHERE tenant_id = $4 AND id = $5 AND flagged = 0",
        )
        .bind(reason)
        .bind(user_id)
        .bind(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .bind(tenant)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("flagging an order")?;
        Ok(result.rows_affected() == 1)
    }
}

/// `search` as a literal inside a `LIKE … ESCAPE '\'` pattern.
fn escape_like(search: &str) -> String {
    search
        .trim()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tenants_are_seeded_once_and_see_only_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sales.db").display());
        let store = SalesStore::open(&url).await.unwrap();
        let (a, b) = tokio::join!(store.customers("t-a", None), store.customers("t-a", None));
        assert_eq!(a.unwrap(), b.unwrap());
        let a = store.customers("t-a", None).await.unwrap();
        assert_eq!(a.len(), seed::CUSTOMERS as usize);
        let orders: i64 = a.iter().map(|c| c.orders).sum();
        assert_eq!(orders, seed::ORDERS);
        let b = store.customers("t-b", None).await.unwrap();
        assert_ne!(a, b);

        assert!(store.flag("t-a", 1, "check", "u").await.unwrap());
        assert!(!store.flag("t-a", 1, "again", "u").await.unwrap());
        assert!(!store.order("t-b", 1).await.unwrap().unwrap().flagged);
        drop(store);
        // Reopened: nothing seeded twice, the flag kept.
        let store = SalesStore::open(&url).await.unwrap();
        assert_eq!(store.customers("t-a", None).await.unwrap().len(), a.len());
        assert!(store.order("t-a", 1).await.unwrap().unwrap().flagged);
    }

    #[tokio::test]
    async fn search_is_literal_and_case_insensitive() {
        assert_eq!(escape_like(" 50%_\\ "), "50\\%\\_\\\\");
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sales.db").display());
        let store = SalesStore::open(&url).await.unwrap();
        let all = store.customers("t", None).await.unwrap();
        let first = all[0].name.split(' ').next().unwrap().to_lowercase();
        let found = store.customers("t", Some(&first)).await.unwrap();
        assert!(!found.is_empty());
        assert!(
            found.iter().all(|c| c.name.to_lowercase().contains(&first)
                || c.city.to_lowercase().contains(&first))
        );
        assert!(store.customers("t", Some("%")).await.unwrap().is_empty());
    }
}
