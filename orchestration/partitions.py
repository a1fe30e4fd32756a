import dagster as dg

# Monday-start UTC weeks from the first full week of Data API history; the last
# key is the last *closed* week (end_offset=0): a running week is never final.
weekly_partitions = dg.WeeklyPartitionsDefinition(start_date="2025-01-06", day_offset=1, timezone="UTC")
