//! Where personal data is: every column of a service's database searched for a value.

use sqlx::PgPool;

/// Every `table.column` of the database's own tables holding `needle` anywhere in a value:
/// text, jsonb and arrays through their text form, bytea (stored responses, event
/// envelopes) byte for byte.
pub async fn columns_holding(pool: &PgPool, needle: &str) -> anyhow::Result<Vec<String>> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "select c.table_name, c.column_name, c.data_type
         from information_schema.columns c
         join information_schema.tables t using (table_schema, table_name)
         where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
           and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY')",
    )
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(!columns.is_empty(), "no columns to search");
    let mut holding = Vec::new();
    for (table, column, data_type) in columns {
        let condition = if data_type == "bytea" {
            format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0")
        } else {
            format!("strpos(\"{column}\"::text, $1) > 0")
        };
        let found: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select exists (select 1 from \"{table}\" where {condition})"
        )))
        .bind(needle)
        .fetch_one(pool)
        .await?;
        if found {
            holding.push(format!("{table}.{column}"));
        }
    }
    Ok(holding)
}
