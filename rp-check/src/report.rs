//! What the RP did with each case, as a table or JSON.

use crate::http::Verdict;

/// One case's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub(crate) case: String,
    pub(crate) sent: String,
    pub(crate) must_accept: bool,
    pub(crate) verdict: Option<Verdict>,
    pub(crate) skipped: Option<String>,
}

impl Outcome {
    pub(crate) fn passed(&self) -> bool {
        match (&self.verdict, self.must_accept) {
            (None, _) => true,
            (Some(Verdict::Accepted(_)), must) => must,
            (Some(Verdict::Failed(_) | Verdict::Timeout), _) => false,
            (Some(_), must) => !must,
        }
    }
}

/// The outcomes as a table, one line each.
pub(crate) fn table(outcomes: &[Outcome]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            [
                o.case.clone(),
                o.sent.clone(),
                match (&o.verdict, &o.skipped) {
                    (Some(v), _) => v.show(),
                    (None, Some(s)) => format!("skipped: {s}"),
                    (None, None) => "-".into(),
                },
                if o.skipped.is_some() {
                    "-".into()
                } else if o.passed() {
                    "pass".into()
                } else {
                    "FAIL".into()
                },
            ]
        })
        .collect();
    let head = ["CASE", "SENT", "RP VERDICT", "RESULT"];
    let w: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |r: [&str; 4]| {
        let _ = writeln!(
            out,
            "{:<a$}  {:<b$}  {:<c$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            a = w[0],
            b = w[1],
            c = w[2]
        );
    };
    line(head);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3]]);
    }
    out
}
