//! The benchmark's printed tables: columns declared once (title and width), rows of cells
//! aligned under them (the first column left, the others right), and free lines (spreads,
//! notes) between rows.

/// One table: a title line, a header and its lines.
pub struct Table {
    title: String,
    columns: Vec<(&'static str, usize)>,
    lines: Vec<Line>,
}

enum Line {
    Row(Vec<String>),
    Text(String),
}

impl Table {
    /// An empty table with `title` above it and `columns` (header text, width).
    pub fn new(title: impl Into<String>, columns: &[(&'static str, usize)]) -> Table {
        Table {
            title: title.into(),
            columns: columns.to_vec(),
            lines: Vec::new(),
        }
    }

    /// A row, one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "cells of {}", self.title);
        self.lines.push(Line::Row(cells));
    }

    /// A free line under the last row (indented to the second column).
    pub fn text(&mut self, line: String) {
        self.lines.push(Line::Text(line));
    }

    fn format(&self, cells: &[String]) -> String {
        cells
            .iter()
            .zip(&self.columns)
            .enumerate()
            .map(|(k, (cell, (_, width)))| {
                if k == 0 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// Print the table (nothing when it has no rows).
    pub fn print(&self) {
        if !self.lines.iter().any(|l| matches!(l, Line::Row(_))) {
            return;
        }
        println!();
        println!("{}", self.title);
        let header: Vec<String> = self.columns.iter().map(|(t, _)| t.to_string()).collect();
        println!("{}", self.format(&header));
        let indent = self.columns.first().map_or(0, |(_, w)| w + 3);
        for line in &self.lines {
            match line {
                Line::Row(cells) => println!("{}", self.format(cells)),
                Line::Text(text) => println!("{:indent$}{text}", ""),
            }
        }
    }
}
