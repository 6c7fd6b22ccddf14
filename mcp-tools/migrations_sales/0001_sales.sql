-- Demo sales data of the `sales` MCP server, per tenant (the token's `tid`). Each tenant's rows are
-- generated deterministically on its first request and numbered from 1 within the tenant.
CREATE TABLE seeded_tenants (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    seeded_at TEXT NOT NULL
);

CREATE TABLE products (
    tenant_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE customers (
    tenant_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE orders (
    tenant_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    -- ISO date, YYYY-MM-DD.
    ordered_on TEXT NOT NULL,
    flagged INTEGER NOT NULL DEFAULT 0,
    flag_reason TEXT,
    flagged_by TEXT,
    flagged_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

CREATE INDEX orders_by_date ON orders (tenant_id, ordered_on);
CREATE INDEX orders_by_customer ON orders (tenant_id, customer_id);
