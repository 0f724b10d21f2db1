//! What the server tells clients about itself: GetSqlInfo and GetXdbcTypeInfo answers, and
//! the Arrow types it sends (plain Utf8/Binary, hydrated dictionaries).

use std::sync::{Arc, LazyLock};

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity,
    SqlSupportedTransaction, XdbcDataType, XdbcDatetimeSubcode,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

pub static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "cdrlake");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    // The Arrow format version (Schema.fbs MetadataVersion V5 = 1.3 and later).
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlKeywords, KEYWORDS);
    b.append(SqlInfo::SqlNumericFunctions, NUMERIC_FUNCTIONS);
    b.append(SqlInfo::SqlStringFunctions, STRING_FUNCTIONS);
    b.append(SqlInfo::SqlDatetimeFunctions, DATETIME_FUNCTIONS);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSchemaTerm, "schema");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlBatchUpdatesSupported, false);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    b.append(SqlInfo::SqlMaxColumnNameLength, 0i64);
    b.append(SqlInfo::SqlMaxColumnsInTable, 0i64);
    b.append(SqlInfo::SqlMaxStatementLength, 0i64);
    b.append(SqlInfo::SqlMaxStatements, 0i64);
    b.append(SqlInfo::SqlMaxTableNameLength, 0i64);
    b.append(SqlInfo::SqlMaxTablesInSelect, 0i64);
    b.append(SqlInfo::SqlMaxUsernameLength, 0i64);
    b.append(SqlInfo::SqlDefaultTransactionIsolation, 0i64);
    // The builder only fails on inconsistent value types, which the lines above are not.
    b.build().unwrap_or_else(|e| panic!("SqlInfo table: {e}"))
});

const KEYWORDS: &[&str] = &[
    "ABSOLUTE",
    "ACTION",
    "ARRAY",
    "ASC",
    "BETWEEN",
    "CASE",
    "CAST",
    "COPY",
    "CROSS",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "EXCEPT",
    "EXPLAIN",
    "EXTERNAL",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FULL",
    "GROUP",
    "HAVING",
    "ILIKE",
    "INTERSECT",
    "INTERVAL",
    "JOIN",
    "LAST",
    "LATERAL",
    "LEFT",
    "LIMIT",
    "NATURAL",
    "NULLS",
    "OFFSET",
    "OUTER",
    "OVER",
    "PARTITION",
    "PRECEDING",
    "QUALIFY",
    "RANGE",
    "RIGHT",
    "ROWS",
    "SEMI",
    "ANTI",
    "SHOW",
    "UNBOUNDED",
    "UNION",
    "UNNEST",
    "USING",
    "VALUES",
    "WINDOW",
    "WITH",
];
const NUMERIC_FUNCTIONS: &[&str] = &[
    "abs", "acos", "asin", "atan", "atan2", "cbrt", "ceil", "cos", "exp", "floor", "ln", "log",
    "log10", "log2", "pi", "power", "radians", "random", "round", "signum", "sin", "sqrt", "tan",
    "trunc",
];
const STRING_FUNCTIONS: &[&str] = &[
    "ascii",
    "btrim",
    "char_length",
    "concat",
    "concat_ws",
    "initcap",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "md5",
    "octet_length",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "to_hex",
    "translate",
    "trim",
    "upper",
];
const DATETIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_time",
    "date_bin",
    "date_part",
    "date_trunc",
    "from_unixtime",
    "now",
    "to_timestamp",
    "to_timestamp_micros",
    "to_timestamp_millis",
    "local_time",
];

#[allow(clippy::too_many_arguments)]
fn xdbc(
    name: &str,
    data_type: XdbcDataType,
    sql_data_type: XdbcDataType,
    column_size: Option<i32>,
    literal: Option<&str>,
    subcode: Option<XdbcDatetimeSubcode>,
    radix: Option<i32>,
    scale: Option<(i32, i32)>,
) -> XdbcTypeInfo {
    XdbcTypeInfo {
        type_name: name.into(),
        data_type,
        column_size,
        literal_prefix: literal.map(String::from),
        literal_suffix: literal.map(String::from),
        create_params: None,
        nullable: Nullable::NullabilityNullable,
        case_sensitive: matches!(data_type, XdbcDataType::XdbcVarchar),
        searchable: Searchable::Full,
        unsigned_attribute: radix.map(|_| false),
        fixed_prec_scale: scale.is_some(),
        auto_increment: radix.map(|_| false),
        local_type_name: Some(name.into()),
        minimum_scale: scale.map(|s| s.0),
        maximum_scale: scale.map(|s| s.1),
        sql_data_type,
        datetime_subcode: subcode,
        num_prec_radix: radix,
        interval_precision: None,
    }
}

pub static XDBC_TYPES: LazyLock<XdbcTypeInfoData> = LazyLock::new(|| {
    use XdbcDataType as X;
    let mut b = XdbcTypeInfoDataBuilder::new();
    b.append(xdbc(
        "BOOLEAN",
        X::XdbcBit,
        X::XdbcBit,
        Some(1),
        None,
        None,
        None,
        None,
    ));
    b.append(xdbc(
        "TINYINT",
        X::XdbcTinyint,
        X::XdbcTinyint,
        Some(3),
        None,
        None,
        Some(10),
        None,
    ));
    b.append(xdbc(
        "SMALLINT",
        X::XdbcSmallint,
        X::XdbcSmallint,
        Some(5),
        None,
        None,
        Some(10),
        None,
    ));
    b.append(xdbc(
        "INTEGER",
        X::XdbcInteger,
        X::XdbcInteger,
        Some(10),
        None,
        None,
        Some(10),
        None,
    ));
    b.append(xdbc(
        "BIGINT",
        X::XdbcBigint,
        X::XdbcBigint,
        Some(19),
        None,
        None,
        Some(10),
        None,
    ));
    b.append(xdbc(
        "REAL",
        X::XdbcReal,
        X::XdbcReal,
        Some(24),
        None,
        None,
        Some(2),
        None,
    ));
    b.append(xdbc(
        "DOUBLE",
        X::XdbcDouble,
        X::XdbcDouble,
        Some(53),
        None,
        None,
        Some(2),
        None,
    ));
    b.append(xdbc(
        "DECIMAL",
        X::XdbcDecimal,
        X::XdbcDecimal,
        Some(38),
        None,
        None,
        Some(10),
        Some((0, 38)),
    ));
    b.append(xdbc(
        "VARCHAR",
        X::XdbcVarchar,
        X::XdbcVarchar,
        Some(i32::MAX),
        Some("'"),
        None,
        None,
        None,
    ));
    b.append(xdbc(
        "VARBINARY",
        X::XdbcVarbinary,
        X::XdbcVarbinary,
        Some(i32::MAX),
        None,
        None,
        None,
        None,
    ));
    // ODBC's SQL_CODE_DATE is 1, which the protocol spells XDBC_SUBCODE_YEAR.
    b.append(xdbc(
        "DATE",
        X::XdbcDate,
        X::XdbcDatetime,
        Some(10),
        Some("'"),
        Some(XdbcDatetimeSubcode::XdbcSubcodeYear),
        None,
        None,
    ));
    b.append(xdbc(
        "TIMESTAMP",
        X::XdbcTimestamp,
        X::XdbcDatetime,
        Some(26),
        Some("'"),
        Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp),
        None,
        Some((6, 6)),
    ));
    b.build()
        .unwrap_or_else(|e| panic!("XdbcTypeInfo table: {e}"))
});

/// The type sent for `t`: view types as plain Utf8/Binary (JDBC up to 18, Go, JS and
/// flightsql-dbapi fail on views), dictionaries hydrated to their values, recursively.
pub fn wire_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, v) => wire_type(v),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => {
            DataType::List(wire_field(f))
        }
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(wire_field(f), *n),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(wire_field).collect::<Vec<_>>().into())
        }
        DataType::Map(f, sorted) => DataType::Map(wire_field(f), *sorted),
        other => other.clone(),
    }
}

fn wire_field(f: &FieldRef) -> FieldRef {
    Arc::new(
        Field::new(f.name(), wire_type(f.data_type()), true).with_metadata(f.metadata().clone()),
    )
}

/// The schema sent for a result of schema `s`: [`wire_type`] for each column, every column
/// nullable (the GetFlightInfo schema must equal every batch's, whatever a batch holds).
pub fn wire_schema(s: &Schema) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        s.fields().iter().map(wire_field).collect::<Vec<_>>(),
        s.metadata().clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_and_dictionaries_are_sent_plain() {
        let s = Schema::new(vec![
            Field::new("a", DataType::Utf8View, false),
            Field::new(
                "b",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8View)),
                true,
            ),
            Field::new(
                "c",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8View, true))),
                true,
            ),
        ]);
        let w = wire_schema(&s);
        assert_eq!(w.field(0).data_type(), &DataType::Utf8);
        assert_eq!(w.field(1).data_type(), &DataType::Utf8);
        assert_eq!(
            w.field(2).data_type(),
            &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        );
    }

    #[test]
    fn info_tables_build() {
        assert!(SQL_INFO.record_batch(None::<u32>).is_ok());
        assert!(XDBC_TYPES.record_batch(None).is_ok());
    }
}
