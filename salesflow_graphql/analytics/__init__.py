"""Analytics: pure computations over data frames (sales KPIs, trend, stock cover).

``periods`` (date ranges, buckets), ``frames`` (input frame contract),
``sales`` and ``stock`` (the computations). No I/O here.
"""
