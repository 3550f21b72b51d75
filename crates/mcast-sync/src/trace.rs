//! Debug events for what the socket layer does (feature `tracing`): each socket option set
//! and each join and leave. Without the feature the macro expands to nothing, so the crate
//! pulls no logging dependency unless asked to.

/// `tracing::debug!` with the feature `tracing`, nothing without it.
macro_rules! debug {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        ::tracing::debug!($($arg)*);
    };
}

pub(crate) use debug;
