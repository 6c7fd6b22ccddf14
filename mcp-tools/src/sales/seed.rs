//! Deterministic demo data per tenant: the same tenant id always gives the same catalogue, customers
//! and orders (so tests and demos can name "customer 42"), and different tenants get different data.
//! A small splitmix64 generator seeded from the tenant id keeps it stable across crate versions (a
//! library RNG's stream may change between releases).

use chrono::{Days, NaiveDate};

pub(crate) const CUSTOMERS: i64 = 60;
pub(crate) const ORDERS: i64 = 600;
/// Orders fall in these two years.
pub(crate) const FIRST_DAY: (i32, u32, u32) = (2025, 1, 1);
const DAYS: u64 = 730;

const CATALOGUE: [(&str, &str, i64); 10] = [
    ("Harbour Desk Lamp", "Lighting", 4_900),
    ("Granite Standing Desk", "Furniture", 64_900),
    ("Willow Office Chair", "Furniture", 32_900),
    ("Beacon Monitor Arm", "Accessories", 8_900),
    ("Quill Notebook Set", "Stationery", 1_900),
    ("Atlas Wall Planner", "Stationery", 2_900),
    ("Nimbus Headset", "Electronics", 12_900),
    ("Ember Space Heater", "Electronics", 7_900),
    ("Cedar Bookshelf", "Furniture", 18_900),
    ("Pebble Desk Organiser", "Accessories", 2_400),
];

const FIRST_NAMES: [&str; 16] = [
    "Ada", "Bruno", "Chloé", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko",
    "Lars", "Mira", "Nadia", "Oskar", "Priya",
];
const COMPANIES: [&str; 12] = [
    "Trading",
    "Studio",
    "Logistics",
    "Bakery",
    "Clinic",
    "Architects",
    "Consulting",
    "Foods",
    "Garage",
    "Printing",
    "Optics",
    "Textiles",
];
const CITIES: [&str; 10] = [
    "Lyon", "Porto", "Ghent", "Bergen", "Graz", "Turku", "Bologna", "Utrecht", "Cork", "Kraków",
];

pub(crate) struct SeedProduct {
    pub id: i64,
    pub name: &'static str,
    pub category: &'static str,
    pub unit_price_cents: i64,
}

pub(crate) struct SeedCustomer {
    pub id: i64,
    pub name: String,
    pub city: &'static str,
    pub email: String,
}

pub(crate) struct SeedOrder {
    pub id: i64,
    pub customer_id: i64,
    pub product_id: i64,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub ordered_on: NaiveDate,
}

pub(crate) struct Seed {
    pub products: Vec<SeedProduct>,
    pub customers: Vec<SeedCustomer>,
    pub orders: Vec<SeedOrder>,
}

/// splitmix64 (Steele, Lea, Flood 2014).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` for demo data.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// FNV-1a of the tenant id: the generator's seed.
fn seed_of(tenant_id: &str) -> u64 {
    tenant_id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The demo data of `tenant_id`.
pub(crate) fn generate(tenant_id: &str) -> Seed {
    let mut rng = SplitMix(seed_of(tenant_id));
    let products: Vec<SeedProduct> = CATALOGUE
        .iter()
        .zip(1..)
        .map(|(&(name, category, base), id)| {
            // Each tenant has its own price list: the base price ±20 %, rounded to whole euros − 1 ct.
            let factor = 80 + rng.below(41) as i64;
            let price = (base * factor / 100 / 100).max(1) * 100 - 1;
            SeedProduct {
                id,
                name,
                category,
                unit_price_cents: price,
            }
        })
        .collect();
    let customers: Vec<SeedCustomer> = (1..=CUSTOMERS)
        .map(|id| {
            let person = *rng.pick(&FIRST_NAMES);
            let company = *rng.pick(&COMPANIES);
            let city = *rng.pick(&CITIES);
            let name = format!("{person} {company} {city}");
            let email = format!(
                "orders+{id}@{}-{}.example",
                person.to_lowercase().replace('é', "e"),
                company.to_lowercase()
            );
            SeedCustomer {
                id,
                name,
                city,
                email,
            }
        })
        .collect();
    let (y, m, d) = FIRST_DAY;
    let first = NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let mut orders: Vec<SeedOrder> = (0..ORDERS)
        .map(|_| {
            let product = rng.pick(&products);
            let day = rng.below(DAYS);
            SeedOrder {
                id: 0,
                customer_id: 1 + rng.below(CUSTOMERS as u64) as i64,
                product_id: product.id,
                quantity: 1 + rng.below(8) as i64,
                unit_price_cents: product.unit_price_cents,
                ordered_on: first.checked_add_days(Days::new(day)).unwrap_or(first),
            }
        })
        .collect();
    // Order numbers follow the dates, as a real order book's would.
    orders.sort_by_key(|order| order.ordered_on);
    for (order, id) in orders.iter_mut().zip(1..) {
        order.id = id;
    }
    Seed {
        products,
        customers,
        orders,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_always_gets_the_same_data_and_tenants_differ() {
        let (a, again, b) = (
            generate("tenant-a"),
            generate("tenant-a"),
            generate("tenant-b"),
        );
        let names = |seed: &Seed| {
            seed.customers
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&again));
        assert_ne!(names(&a), names(&b));
        assert_eq!(a.customers.len(), CUSTOMERS as usize);
        assert_eq!(a.orders.len(), ORDERS as usize);
        assert!(
            a.orders
                .windows(2)
                .all(|w| w[0].ordered_on <= w[1].ordered_on)
        );
        assert!(
            a.orders
                .iter()
                .all(|o| (1..=CUSTOMERS).contains(&o.customer_id))
        );
        assert!(a.products.iter().all(|p| p.unit_price_cents > 0));
    }
}
