//! The sales MCP handler: four read-only tools with structured output and `flag_order`, which asks
//! the user to confirm through elicitation with mcp-tools' [`Confirmer`] (both protocol generations).
//! The tenant comes only from the validated token (`tid`); nothing the model sends chooses it.

use std::sync::Arc;

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{
        common::schema_for_output,
        router::tool::ToolRouter,
        tool::{Extension, InputResponses, RequestState},
    },
    model::{
        CallToolResponse, CallToolResult, ContentBlock, CustomRequest, CustomResult,
        Implementation, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_handler, tool_router,
};

use super::{
    params::{
        CustomerList, CustomerOrders, CustomerOrdersArgs, FlagOrderArgs, ListCustomersArgs,
        MAX_REASON_CHARS, MAX_TOP, SalesSummaryArgs, TopProductsArgs, YEARS,
    },
    store::{Customer, Order, SalesStore},
    summary::{self, SalesSummary, TopProducts, euros},
};
use crate::tools::{
    Confirmation, Confirmer, FormQuestion, Parameters, custom_request_error, failure, principal,
    structured,
};

/// State shared by every handler instance.
pub struct SalesShared {
    pub store: SalesStore,
    confirmer: Confirmer,
    router: ToolRouter<SalesTools>,
}

impl SalesShared {
    pub fn new(store: SalesStore) -> Arc<Self> {
        Arc::new(Self {
            store,
            confirmer: Confirmer::new(),
            router: SalesTools::sales_router(),
        })
    }
}

/// The sales MCP handler.
#[derive(Clone)]
pub struct SalesTools {
    shared: Arc<SalesShared>,
}

impl SalesTools {
    pub fn new(shared: Arc<SalesShared>) -> Self {
        Self { shared }
    }
}

/// Logs the detail, tells the client only that storage failed.
fn storage_error(error: anyhow::Error) -> ErrorData {
    tracing::error!(error = format!("{error:#}"), "sales storage failed");
    ErrorData::internal_error("sales storage is unavailable", None)
}

fn check_year(year: i32) -> Result<(), ErrorData> {
    if YEARS.contains(&year) {
        Ok(())
    } else {
        Err(ErrorData::invalid_params(
            format!("year must be between {} and {}", YEARS.start(), YEARS.end()),
            None,
        ))
    }
}

fn customer_line(c: &Customer) -> String {
    format!(
        "#{} {} ({}): {} orders, {}",
        c.id,
        c.name,
        c.city,
        c.orders,
        euros(c.revenue_cents)
    )
}

fn order_line(o: &Order) -> String {
    let flag = match (&o.flagged, &o.flag_reason) {
        (true, Some(reason)) => format!(" [flagged: {reason}]"),
        (true, None) => " [flagged]".to_owned(),
        _ => String::new(),
    };
    format!(
        "order {} on {}: {} × {} = {}{flag}",
        o.id,
        o.ordered_on,
        o.quantity,
        o.product,
        euros(o.total_cents)
    )
}

fn totals_line(label: &str, t: &summary::Totals) -> String {
    format!(
        "{label}: {} ({} orders, {} units)",
        euros(t.revenue_cents),
        t.orders,
        t.units
    )
}

#[tool_router(router = sales_router, vis = "pub(super)")]
impl SalesTools {
    #[tool(
        description = "Lists the customers of the signed-in user's organisation with their order count and revenue; optionally only those whose name or city contains `search`.",
        output_schema = schema_for_output::<CustomerList>(),
        annotations(
            title = "List customers",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_customers(
        &self,
        Parameters(args): Parameters<ListCustomersArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = principal(&parts)?;
        let search = args
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let customers = self
            .shared
            .store
            .customers(&user.tenant_id, search)
            .await
            .map_err(storage_error)?;
        let text = if customers.is_empty() {
            match search {
                Some(search) => format!("No customer's name or city contains {search:?}."),
                None => "There are no customers.".to_owned(),
            }
        } else {
            let mut lines = vec![format!("{} customers:", customers.len())];
            lines.extend(customers.iter().map(customer_line));
            lines.join("\n")
        };
        structured(&CustomerList { customers }, text)
    }

    #[tool(
        description = "Returns one customer of the signed-in user's organisation and all their orders, newest first.",
        output_schema = schema_for_output::<CustomerOrders>(),
        annotations(
            title = "Customer orders",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_customer_orders(
        &self,
        Parameters(args): Parameters<CustomerOrdersArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = principal(&parts)?;
        let store = &self.shared.store;
        let Some(customer) = store
            .customer(&user.tenant_id, args.customer_id)
            .await
            .map_err(storage_error)?
        else {
            return Ok(failure(format!(
                "There is no customer with id {}; list_customers shows the ids.",
                args.customer_id
            )));
        };
        let orders = store
            .customer_orders(&user.tenant_id, customer.id)
            .await
            .map_err(storage_error)?;
        let mut lines = vec![customer_line(&customer)];
        lines.extend(orders.iter().map(order_line));
        structured(&CustomerOrders { customer, orders }, lines.join("\n"))
    }

    #[tool(
        description = "Summarises the organisation's sales of one year (orders, units, revenue in euro cents) by month, quarter or product, with the year's total.",
        output_schema = schema_for_output::<SalesSummary>(),
        annotations(
            title = "Sales summary",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn sales_summary(
        &self,
        Parameters(args): Parameters<SalesSummaryArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = principal(&parts)?;
        check_year(args.year)?;
        let lines = self
            .shared
            .store
            .order_lines(&user.tenant_id, args.year)
            .await
            .map_err(storage_error)?;
        let summary = summary::summarize(args.year, args.group_by, &lines);
        let mut text = vec![totals_line(&format!("Sales {}", args.year), &summary.total)];
        text.extend(
            summary
                .rows
                .iter()
                .map(|row| totals_line(&row.label, &row.totals)),
        );
        structured(&summary, text.join("\n"))
    }

    #[tool(
        description = "Returns the organisation's best-selling products of one year by revenue, at most `limit` of them.",
        output_schema = schema_for_output::<TopProducts>(),
        annotations(
            title = "Top products",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn top_products(
        &self,
        Parameters(args): Parameters<TopProductsArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = principal(&parts)?;
        check_year(args.year)?;
        if !(1..=MAX_TOP).contains(&args.limit) {
            return Err(ErrorData::invalid_params(
                format!("limit must be between 1 and {MAX_TOP}"),
                None,
            ));
        }
        let lines = self
            .shared
            .store
            .order_lines(&user.tenant_id, args.year)
            .await
            .map_err(storage_error)?;
        let top = summary::top_products(args.year, args.limit as usize, &lines);
        let text = if top.products.is_empty() {
            format!("No products were sold in {}.", args.year)
        } else {
            let mut lines = vec![format!("Top products of {}:", args.year)];
            lines.extend(
                top.products
                    .iter()
                    .map(|p| totals_line(&format!("{}. {}", p.rank, p.name), &p.totals)),
            );
            lines.join("\n")
        };
        structured(&top, text)
    }

    #[tool(
        description = "Flags one of the organisation's orders for review, with a reason, after the user confirms.",
        annotations(
            title = "Flag order",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn flag_order(
        &self,
        Parameters(args): Parameters<FlagOrderArgs>,
        Extension(parts): Extension<axum::http::request::Parts>,
        context: RequestContext<RoleServer>,
        RequestState(state): RequestState,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        let user = principal(&parts)?;
        let reason = args.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(ErrorData::invalid_params(
                format!("reason must hold 1 to {MAX_REASON_CHARS} characters"),
                None,
            ));
        }
        let store = &self.shared.store;
        let tenant = &user.tenant_id;
        let Some(order) = store
            .order(tenant, args.order_id)
            .await
            .map_err(storage_error)?
        else {
            return Ok(failure(format!("There is no order with id {}.", args.order_id)).into());
        };
        if order.flagged {
            return Ok(failure(format!(
                "Order {} is already flagged ({}).",
                order.id,
                order.flag_reason.as_deref().unwrap_or("no reason given")
            ))
            .into());
        }
        let message = format!(
            "Flag {} for review: \u{201c}{reason}\u{201d}?",
            order_line(&order)
        );
        // The reason is part of what the user confirms: a retry with another reason is another question.
        let question = FormQuestion {
            subject: format!("order:{}:{reason}", order.id),
            message: &message,
            title: "Flag this order",
            description: "Leave checked and accept to flag the order; decline to leave it unflagged.",
        };
        let confirmation = self
            .shared
            .confirmer
            .confirm_form(&context, &user, &question, state, responses)
            .await?;
        let outcome =
            match confirmation {
                Confirmation::Ask(input_required) => return Ok(input_required.into()),
                Confirmation::Unsupported => failure(
                    "Flagging an order requires the user's confirmation, but this client does not \
                 support MCP elicitation. The order was not flagged.",
                ),
                Confirmation::Accepted => {
                    if store
                        .flag(tenant, order.id, reason, &user.user_id)
                        .await
                        .map_err(storage_error)?
                    {
                        CallToolResult::success(vec![ContentBlock::text(format!(
                            "Flagged order {} for review.",
                            order.id
                        ))])
                    } else {
                        failure(format!("Order {} was flagged meanwhile.", order.id))
                    }
                }
                Confirmation::Declined => CallToolResult::success(vec![ContentBlock::text(
                    format!("The user declined: order {} was not flagged.", order.id),
                )]),
                Confirmation::Cancelled => CallToolResult::success(vec![ContentBlock::text(
                    format!("The user cancelled: order {} was not flagged.", order.id),
                )]),
                Confirmation::Failed(reason) => failure(format!(
                    "Could not get the user's confirmation ({reason}). Order {} was not flagged.",
                    order.id
                )),
            };
        Ok(outcome.into())
    }
}

#[tool_handler(router = self.shared.router)]
impl ServerHandler for SalesTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("portcullis-sales", env!("CARGO_PKG_VERSION"))
                    .with_title("Portcullis sales"),
            )
            .with_instructions(
                "Demo sales data (customers, orders, products) of the signed-in user's organisation. \
                 Amounts are euro cents. flag_order asks the user to confirm through elicitation.",
            )
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(custom_request_error(&request))
    }
}
