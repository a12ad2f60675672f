"""Typing and derived features shared by the ETL node and the pickled model."""

from __future__ import annotations

import numpy as np
import pandas as pd

MONTH_NUMBER = {
    month: number
    for number, month in enumerate(
        ["January", "February", "March", "April", "May", "June", "July", "August",
         "September", "October", "November", "December"],
        start=1,
    )
}

REQUIRED_COLUMNS = (
    "reservation_id", "hotel", "is_canceled", "lead_time", "arrival_date_year",
    "arrival_date_month", "arrival_date_day_of_month", "stays_in_weekend_nights",
    "stays_in_week_nights", "adults", "children", "babies", "meal", "country",
    "market_segment", "distribution_channel", "is_repeated_guest", "previous_cancellations",
    "reserved_room_type", "assigned_room_type", "booking_changes", "deposit_type",
    "customer_type", "adr", "required_car_parking_spaces", "total_of_special_requests",
    "reservation_status", "reservation_status_date",
)
INTEGER_COLUMNS = (
    "is_canceled", "lead_time", "arrival_date_year", "arrival_date_day_of_month",
    "stays_in_weekend_nights", "stays_in_week_nights", "adults", "babies",
    "is_repeated_guest", "previous_cancellations", "booking_changes",
    "required_car_parking_spaces", "total_of_special_requests",
)
CATEGORICAL_COLUMNS = (
    "hotel", "meal", "country", "market_segment", "distribution_channel",
    "reserved_room_type", "assigned_room_type", "deposit_type", "customer_type",
    "reservation_status",
)


def check_required_columns(frame: pd.DataFrame, dataset: str) -> None:
    """Raise naming every missing column of ``dataset``."""
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"dataset '{dataset}' is missing required columns: {', '.join(missing)}")


def derive_features(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed reservations plus arrival/departure dates, nights, guests and other derived features."""
    frame = raw.copy()
    for column in INTEGER_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Float64")
    frame["children"] = pd.to_numeric(frame["children"], errors="coerce").fillna(0)
    frame["adr"] = pd.to_numeric(frame["adr"], errors="coerce").astype("float64")
    for column in CATEGORICAL_COLUMNS:
        frame[column] = frame[column].astype("string")
    month = frame["arrival_date_month"].map(MONTH_NUMBER)
    frame["arrival_date"] = pd.to_datetime(
        {"year": frame["arrival_date_year"], "month": month, "day": frame["arrival_date_day_of_month"]},
        errors="coerce",
    )
    frame["reservation_status_date"] = pd.to_datetime(frame["reservation_status_date"], errors="coerce")
    frame["total_nights"] = frame["stays_in_weekend_nights"] + frame["stays_in_week_nights"]
    frame["departure_date"] = frame["arrival_date"] + pd.to_timedelta(
        frame["total_nights"].astype("float64"), unit="D"
    )
    frame["total_guests"] = frame["adults"] + frame["children"] + frame["babies"]
    frame["kids"] = frame["children"] + frame["babies"]
    nights = frame["total_nights"].astype("float64")
    frame["weekend_share"] = np.where(
        nights > 0, frame["stays_in_weekend_nights"].astype("float64") / nights.where(nights > 0, 1), 0.0
    )
    frame["arrival_weekday"] = frame["arrival_date"].dt.dayofweek
    frame["room_upgraded"] = (frame["reserved_room_type"] != frame["assigned_room_type"]).astype("int64")
    return frame
