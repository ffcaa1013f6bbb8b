"""Operations: staff account management and the figures behind ``/metrics`` and the dashboard."""
