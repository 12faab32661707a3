//! Python bindings (filled by the Python SDK work).
