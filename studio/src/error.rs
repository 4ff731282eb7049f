//! Why the studio cannot start or go on, in words a user acts on, with the
//! error underneath (I/O, the SDK's, the catalog's) kept as the source, so
//! nothing is lost and each thing is said once.

/// A start-up or I/O failure of the studio.
#[derive(Debug, thiserror::Error)]
pub enum StudioError {
    /// A setting or file given is wrong: the message names it and the fix.
    #[error("{0}")]
    Invalid(String),
    /// Something outside failed: `what` says what was being done (and the
    /// fix, when there is one); `source` is what failed.
    #[error("{what}")]
    Failed {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StudioError {
    /// `what` failed because of `source`.
    pub fn failed(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Failed {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// This error with what was being done in front (`thumbnail folder`).
    pub fn within(self, context: &str) -> Self {
        Self::Failed {
            what: context.to_owned(),
            source: Box::new(self),
        }
    }

    /// The message and every cause, on one line, as the studio prints it.
    pub fn report(&self) -> String {
        let mut line = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            line.push_str(": ");
            line.push_str(&e.to_string());
            cause = e.source();
        }
        line
    }
}

impl From<String> for StudioError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

impl From<&str> for StudioError {
    fn from(message: &str) -> Self {
        Self::Invalid(message.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_each_cause_once_in_order() {
        let io = std::io::Error::other("permission denied");
        let e = StudioError::failed("cannot create /x", io).within("thumbnail folder");
        assert_eq!(e.to_string(), "thumbnail folder");
        assert_eq!(
            e.report(),
            "thumbnail folder: cannot create /x: permission denied"
        );
        let chain: Vec<String> =
            std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .map(|e| e.to_string())
                .collect();
        assert_eq!(
            chain,
            ["thumbnail folder", "cannot create /x", "permission denied"]
        );
    }
}
