//! One Parquet file being written: its columns (name, type, nullability),
//! the Arrow builders of the batch in progress, and the `ArrowWriter` the
//! batches go to.
//!
//! Rows are given as a slice of [`Value`]s in column order. A value of the
//! wrong type, a null in a required column or a row of the wrong width is
//! a broken invariant of this module's callers (the table definitions),
//! not bad input, so it is an `assert!`. Memory is bounded: a batch is
//! handed to the writer every [`BATCH_ROWS`] rows, and the writer closes a
//! row group at [`ROW_GROUP_ROWS`] rows or [`ROW_GROUP_BYTES`] encoded
//! bytes, whichever comes first. This module never reads the store.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Rows per Arrow batch handed to the Parquet writer.
pub(super) const BATCH_ROWS: usize = 8_192;
/// Rows per Parquet row group at most.
pub(super) const ROW_GROUP_ROWS: usize = 65_536;
/// Estimated encoded bytes per row group at most: what the writer holds in
/// memory before it writes a row group out.
pub(super) const ROW_GROUP_BYTES: usize = 32 << 20;
/// The zstd level of every page (zstd's own default).
const ZSTD_LEVEL: i32 = 3;

/// The version of the files' schema (the tables and columns documented in
/// `docs/parquet-schema.md`), in each file's key-value metadata under
/// `tracefold.parquet_schema_version`. A column removed or changed in type
/// or meaning raises it; a column added does not.
pub const PARQUET_SCHEMA_VERSION: u32 = 1;

/// A column's type, as Arrow writes it to Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    /// UTF-8 text (`string`, DuckDB `VARCHAR`).
    Str,
    /// 64-bit signed integer (`int64`, DuckDB `BIGINT`): counts, seqs,
    /// sizes and tokens (signed, so Spark reads them as `long`).
    I64,
    /// 32-bit signed integer (`int32`, DuckDB `INTEGER`): exit codes.
    I32,
    /// `bool`, DuckDB `BOOLEAN`.
    Bool,
    /// Milliseconds since the Unix epoch, UTC (`timestamp[ms, UTC]`,
    /// DuckDB `TIMESTAMP WITH TIME ZONE`).
    Time,
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub(super) name: &'static str,
    pub(super) ty: Type,
    pub(super) nullable: bool,
}

/// A required column.
pub(super) const fn req(name: &'static str, ty: Type) -> Column {
    Column {
        name,
        ty,
        nullable: false,
    }
}

/// A nullable column.
pub(super) const fn opt(name: &'static str, ty: Type) -> Column {
    Column {
        name,
        ty,
        nullable: true,
    }
}

/// One cell of a row; `None` is null.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Str(Option<&'a str>),
    I64(Option<i64>),
    I32(Option<i32>),
    Bool(Option<bool>),
    Time(Option<i64>),
}

/// A text cell.
pub(super) fn s(value: &str) -> Value<'_> {
    Value::Str(Some(value))
}

/// A text cell that may be null.
pub(super) fn os(value: Option<&str>) -> Value<'_> {
    Value::Str(value)
}

/// A count, seq or size cell. Values past `i64::MAX` (which no log holds)
/// are written as `i64::MAX`.
pub(super) fn n(value: u64) -> Value<'static> {
    Value::I64(Some(i64::try_from(value).unwrap_or(i64::MAX)))
}

/// A count, seq or size cell that may be null.
pub(super) fn on(value: Option<u64>) -> Value<'static> {
    match value {
        Some(value) => n(value),
        None => Value::I64(None),
    }
}

/// A count of things in a list.
pub(super) fn len<T>(list: &[T]) -> Value<'static> {
    n(list.len() as u64)
}

/// A timestamp cell (ms since the Unix epoch).
pub(super) fn t(unix_ms: i64) -> Value<'static> {
    Value::Time(Some(unix_ms))
}

/// A timestamp cell that may be null.
pub(super) fn ot(unix_ms: Option<i64>) -> Value<'static> {
    Value::Time(unix_ms)
}

/// The Arrow builder of one column.
enum Builder {
    Str(StringBuilder),
    I64(Int64Builder),
    I32(Int32Builder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
}

impl Builder {
    fn new(ty: Type) -> Builder {
        match ty {
            Type::Str => Builder::Str(StringBuilder::new()),
            Type::I64 => Builder::I64(Int64Builder::new()),
            Type::I32 => Builder::I32(Int32Builder::new()),
            Type::Bool => Builder::Bool(BooleanBuilder::new()),
            Type::Time => Builder::Time(TimestampMillisecondBuilder::new().with_timezone("UTC")),
        }
    }

    /// Appends `value`; false when its type is not the column's.
    fn append(&mut self, value: Value<'_>) -> bool {
        match (self, value) {
            (Builder::Str(b), Value::Str(v)) => b.append_option(v),
            (Builder::I64(b), Value::I64(v)) => b.append_option(v),
            (Builder::I32(b), Value::I32(v)) => b.append_option(v),
            (Builder::Bool(b), Value::Bool(v)) => b.append_option(v),
            (Builder::Time(b), Value::Time(v)) => b.append_option(v),
            _ => return false,
        }
        true
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
        }
    }
}

fn is_null(value: &Value<'_>) -> bool {
    match value {
        Value::Str(v) => v.is_none(),
        Value::I64(v) | Value::Time(v) => v.is_none(),
        Value::I32(v) => v.is_none(),
        Value::Bool(v) => v.is_none(),
    }
}

/// The Arrow schema of `columns`.
pub(super) fn schema(columns: &[Column]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|column| {
            let ty = match column.ty {
                Type::Str => DataType::Utf8,
                Type::I64 => DataType::Int64,
                Type::I32 => DataType::Int32,
                Type::Bool => DataType::Boolean,
                Type::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            };
            Field::new(column.name, ty, column.nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A Parquet file being written, one batch of rows at a time.
pub(super) struct Table {
    /// The file's name in the export directory (`threads.parquet`).
    file_name: String,
    columns: &'static [Column],
    schema: SchemaRef,
    builders: Vec<Builder>,
    batch_rows: usize,
    rows: u64,
    writer: ArrowWriter<File>,
}

/// A Parquet write error as an I/O error naming the file (the Parquet
/// error kept as its source).
fn parquet_error(file: &str, err: parquet::errors::ParquetError) -> Error {
    Error::io(format!("write {file}"), std::io::Error::other(err))
}

impl Table {
    /// Creates `dir/NAME.parquet` for a table of `columns`.
    pub(super) fn create(dir: &Path, name: &str, columns: &'static [Column]) -> Result<Table> {
        let file_name = format!("{name}.parquet");
        let path = dir.join(&file_name);
        let file = File::create_new(&path)
            .map_err(|err| Error::io(format!("create {}", path.display()), err))?;
        let schema = schema(columns);
        let level = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|err| parquet_error(&file_name, err))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_created_by(format!("tracefold {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(
                    "tracefold.parquet_schema_version".to_string(),
                    PARQUET_SCHEMA_VERSION.to_string(),
                ),
                KeyValue::new("tracefold.table".to_string(), name.to_string()),
            ]))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
            .map_err(|err| parquet_error(&file_name, err))?;
        Ok(Table {
            file_name,
            columns,
            schema,
            builders: columns.iter().map(|c| Builder::new(c.ty)).collect(),
            batch_rows: 0,
            rows: 0,
            writer,
        })
    }

    /// Appends one row, in column order; hands the batch to the writer
    /// when it is full.
    pub(super) fn row(&mut self, values: &[Value<'_>]) -> Result<()> {
        assert_eq!(
            values.len(),
            self.columns.len(),
            "{}: a row of {} values for {} columns",
            self.file_name,
            values.len(),
            self.columns.len()
        );
        for ((builder, column), value) in self.builders.iter_mut().zip(self.columns).zip(values) {
            assert!(
                column.nullable || !is_null(value),
                "{}: null in required column {}",
                self.file_name,
                column.name
            );
            let appended = builder.append(*value);
            assert!(
                appended,
                "{}: column {} is {:?}, given {value:?}",
                self.file_name, column.name, column.ty
            );
        }
        self.batch_rows += 1;
        self.rows += 1;
        if self.batch_rows >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<()> {
        if self.batch_rows == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.batch_rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|err| {
            Error::io(
                format!("write {}", self.file_name),
                std::io::Error::other(err),
            )
        })?;
        self.writer
            .write(&batch)
            .map_err(|err| parquet_error(&self.file_name, err))
    }

    /// Writes what is left and the footer, and fsyncs the file. Returns
    /// the file's name and its number of rows.
    pub(super) fn finish(mut self) -> Result<(String, u64)> {
        self.write_batch()?;
        let file = self
            .writer
            .into_inner()
            .map_err(|err| parquet_error(&self.file_name, err))?;
        file.sync_all()
            .map_err(|err| Error::io(format!("sync {}", self.file_name), err))?;
        Ok((self.file_name, self.rows))
    }
}
