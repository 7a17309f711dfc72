"""Analytics: pure computations over the frames of ``sor.frames`` (no I/O here).

``products`` (what a product is now: sku, name, category; shared by forecasts
and alerts), ``daily`` (daily series per product, shared by forecasts and
alerts), ``periods`` (date ranges, buckets), ``sales`` and ``stock`` (the KPIs).
"""
