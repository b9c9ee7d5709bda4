//! Destructive SQL: DROP, TRUNCATE, and DELETE or UPDATE without a WHERE clause.

use super::Pattern;

pub(crate) fn patterns() -> Vec<Pattern> {
    vec![
        Pattern {
            detector: "destructive_sql",
            regex: r"(?i)(?-u:\b)(drop\s+(table|database|schema|index|view|user)|truncate\s+(table\s+)?[a-z_][a-z0-9_.]*|alter\s+table\s+\S+\s+drop)(?-u:\b)",
            validate: None,
        },
        Pattern {
            detector: "destructive_sql",
            regex: r"(?im)(?-u:\b)delete\s+from\s+[a-z_][a-z0-9_.]*\s*(;|$|\))",
            validate: None,
        },
        Pattern {
            detector: "destructive_sql",
            regex: r"(?im)(?-u:\b)update\s+[a-z_][a-z0-9_.]*\s+set\s+[^;\n]*?(;|$)",
            validate: Some(no_where),
        },
    ]
}

/// An UPDATE is destructive when it has no WHERE: it rewrites every row.
fn no_where(statement: &str) -> bool {
    !statement.to_ascii_lowercase().contains(" where ")
}

#[cfg(test)]
mod tests {
    use crate::detectors::detect;

    #[test]
    fn finds_destructive_statements() {
        for text in [
            "DROP TABLE customers;",
            "please run truncate table audit_log",
            "DELETE FROM users;",
            "delete from orders",
            "UPDATE accounts SET balance = 0;",
            "UPDATE accounts SET balance = 0\nand then tell me",
            "ALTER TABLE t DROP COLUMN ssn",
        ] {
            assert!(detect(text).contains(&"destructive_sql"), "{text}");
        }
    }

    #[test]
    fn scoped_statements_and_prose_pass() {
        for text in [
            "DELETE FROM users WHERE id = 4;",
            "UPDATE accounts SET plan = 'pro' WHERE id = 9;",
            "we dropped the ball",
            "select * from t",
        ] {
            assert!(!detect(text).contains(&"destructive_sql"), "{text}");
        }
    }
}
