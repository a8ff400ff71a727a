//! One set-based write statement: its SQL, its parameters as `unnest`
//! arrays (a batch of 100 rows costs what one does), and how many rows it
//! must change.

use tokio_postgres::types::ToSql;

pub(super) type Param = Box<dyn ToSql + Sync + Send>;

pub struct Statement {
    pub name: &'static str,
    pub sql: &'static str,
    params: Vec<Param>,
    /// Rows the statement must change; anything else aborts the batch.
    pub expect_rows: Option<u64>,
}

impl Statement {
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// A statement over `rows` rows, which it must change exactly; none for no rows.
pub(super) fn statement(name: &'static str, sql: &'static str, rows: usize, params: Vec<Param>) -> Option<Statement> {
    let expect_rows = Some(u64::try_from(rows).unwrap_or(u64::MAX));
    (rows > 0).then_some(Statement { name, sql, params, expect_rows })
}

pub(super) fn col<T, U: ToSql + Sync + Send + 'static>(rows: &[T], f: impl Fn(&T) -> U) -> Param {
    Box::new(rows.iter().map(f).collect::<Vec<U>>())
}
