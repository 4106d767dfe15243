//! Parquet through the `parquet` crate's column writers (no Arrow: a flat table of a few types
//! needs none of it), Snappy-compressed, one row group per [`ROW_GROUP`] rows.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::{Cell, Column, Kind, TableWriter};

/// Rows buffered before a row group is written: large enough for good compression, small
/// enough that memory stays a few megabytes whatever the table's length.
const ROW_GROUP: usize = 16_384;

pub struct ParquetTable<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    columns: Vec<Column>,
    /// The buffered row group, column by column.
    buffered: Vec<Vec<Cell>>,
}

impl<W: Write + Send> ParquetTable<W> {
    pub fn new(sink: W, name: &str, columns: &[Column]) -> anyhow::Result<ParquetTable<W>> {
        let fields: String = columns
            .iter()
            .map(|c| match c.kind {
                Kind::Text => format!("OPTIONAL BYTE_ARRAY {} (UTF8);", c.name),
                Kind::Integer => format!("OPTIONAL INT64 {};", c.name),
                Kind::Float => format!("OPTIONAL DOUBLE {};", c.name),
                Kind::Timestamp => format!("OPTIONAL INT64 {} (TIMESTAMP(MILLIS,true));", c.name),
            })
            .collect();
        let schema =
            Arc::new(parse_message_type(&format!("message {name} {{ {fields} }}")).context("the Parquet schema")?);
        let properties = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
        let writer = SerializedFileWriter::new(sink, schema, properties).context("starting the Parquet file")?;
        Ok(ParquetTable {
            writer,
            columns: columns.to_vec(),
            buffered: vec![Vec::with_capacity(ROW_GROUP); columns.len()],
        })
    }

    fn write_row_group(&mut self) -> anyhow::Result<()> {
        if self.buffered[0].is_empty() {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        for (column, cells) in self.columns.iter().zip(&mut self.buffered) {
            let mut writer = group.next_column()?.context("the schema has this column")?;
            let levels: Vec<i16> = cells.iter().map(|cell| i16::from(*cell != Cell::Null)).collect();
            let cells = std::mem::take(cells);
            match column.kind {
                Kind::Text => {
                    let values: Vec<ByteArray> = cells
                        .into_iter()
                        .filter_map(|cell| match cell {
                            Cell::Text(text) => Some(ByteArray::from(text.into_bytes())),
                            _ => None,
                        })
                        .collect();
                    writer.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None)?;
                }
                Kind::Integer | Kind::Timestamp => {
                    let values: Vec<i64> = cells
                        .into_iter()
                        .filter_map(|cell| match cell {
                            Cell::Integer(n) | Cell::Timestamp(n) => Some(n),
                            _ => None,
                        })
                        .collect();
                    writer.typed::<Int64Type>().write_batch(&values, Some(&levels), None)?;
                }
                Kind::Float => {
                    let values: Vec<f64> = cells
                        .into_iter()
                        .filter_map(|cell| match cell {
                            Cell::Float(x) => Some(x),
                            _ => None,
                        })
                        .collect();
                    writer.typed::<DoubleType>().write_batch(&values, Some(&levels), None)?;
                }
            }
            writer.close()?;
        }
        group.close()?;
        Ok(())
    }
}

impl<W: Write + Send> TableWriter for ParquetTable<W> {
    fn write_row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        if row.len() != self.columns.len() {
            bail!("a row of {} cells for {} columns", row.len(), self.columns.len());
        }
        for ((cells, cell), column) in self.buffered.iter_mut().zip(row).zip(&self.columns) {
            let fits = matches!(
                (&cell, column.kind),
                (Cell::Null, _)
                    | (Cell::Text(_), Kind::Text)
                    | (Cell::Integer(_), Kind::Integer)
                    | (Cell::Float(_), Kind::Float)
                    | (Cell::Timestamp(_), Kind::Timestamp)
            );
            if !fits {
                bail!("column `{}` holds {:?} values, not {cell:?}", column.name, column.kind);
            }
            cells.push(cell);
        }
        if self.buffered[0].len() >= ROW_GROUP {
            self.write_row_group()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.write_row_group()?;
        self.writer.close().context("writing the Parquet footer")?;
        Ok(())
    }
}
