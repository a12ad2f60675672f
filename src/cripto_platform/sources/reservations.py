"""Seeded hotel reservations with the Hotel Booking Demand columns and planted guest segments."""

from __future__ import annotations

import numpy as np
import pandas as pd

MONTHS = np.array(
    ["January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December"]
)
COUNTRIES = np.array(["PRT", "GBR", "FRA", "ESP", "DEU", "ITA", "IRL", "BEL", "BRA", "USA"])

# One row per planted segment; every column is drawn around these centres.
SEGMENTS = pd.DataFrame(
    {
        "segment": ["business", "family", "getaway", "group"],
        "weight": [0.30, 0.25, 0.30, 0.15],
        "hotel": ["City Hotel", "Resort Hotel", "Resort Hotel", "City Hotel"],
        "lead_time": [8, 120, 30, 250],
        "weekend_nights": [0, 2, 2, 1],
        "week_nights": [2, 5, 0, 3],
        "adults": [1, 2, 2, 2],
        "children": [0, 2, 0, 0],
        "meal": ["BB", "HB", "BB", "FB"],
        "market_segment": ["Corporate", "Direct", "Online TA", "Groups"],
        "distribution_channel": ["Corporate", "Direct", "TA/TO", "TA/TO"],
        "deposit_type": ["No Deposit", "No Deposit", "No Deposit", "Non Refund"],
        "customer_type": ["Transient", "Transient", "Transient", "Transient-Party"],
        "adr": [130.0, 190.0, 105.0, 70.0],
        "repeat_probability": [0.7, 0.1, 0.05, 0.0],
        "parking": [0, 1, 0, 0],
        "special_requests": [0, 3, 1, 0],
        "booking_changes": [0, 2, 0, 1],
    }
)


def generate_reservations(
    n_reservations: int,
    seed: int = 42,
    start_date: str = "2024-01-01",
    days: int = 365,
    invalid_fraction: float = 0.0,
    with_segments: bool = False,
) -> pd.DataFrame:
    """``n_reservations`` rows shaped like the Hotel Booking Demand data, reproducible by ``seed``.

    ``invalid_fraction`` of the rows are made impossible (no guests, negative price or a
    check-out before arrival) so the ETL's quarantine is exercised. ``with_segments`` adds the
    planted ``guest_segment`` label, for tests only: the warehouse never sees it.
    """
    rng = np.random.default_rng(seed)
    n = int(n_reservations)
    seg_index = rng.choice(len(SEGMENTS), size=n, p=SEGMENTS["weight"].to_numpy())
    seg = SEGMENTS.iloc[seg_index].reset_index(drop=True)

    def jitter_count(centre: pd.Series, spread: float) -> np.ndarray:
        return np.clip(np.rint(centre.to_numpy() + rng.normal(0, spread, n)), 0, None).astype("int64")

    arrival = pd.Timestamp(start_date) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    weekend = jitter_count(seg["weekend_nights"], 0.4)
    week = jitter_count(seg["week_nights"], 0.8)
    nights = weekend + week
    zero_nights = nights == 0
    week[zero_nights] = 1  # every stay lasts at least one night
    nights = weekend + week
    adults = np.clip(jitter_count(seg["adults"], 0.2), 1, None)
    children = jitter_count(seg["children"], 0.5)
    babies = np.where(seg["segment"].to_numpy() == "family", rng.binomial(1, 0.3, n), 0)
    is_canceled = rng.binomial(1, 0.25, n)
    departure = arrival + pd.to_timedelta(nights, unit="D")
    lead_time = np.clip(np.rint(seg["lead_time"].to_numpy() * rng.lognormal(0, 0.25, n)), 0, None)
    cancel_date = arrival - pd.to_timedelta(np.floor(lead_time * rng.uniform(0, 1, n)), unit="D")
    room_types = np.array(list("ABCDEFG"))
    reserved = room_types[np.clip(adults + children - 1 + rng.integers(0, 2, n), 0, 6)]
    upgraded = rng.random(n) < 0.15
    assigned = np.where(upgraded, room_types[np.clip(np.searchsorted(room_types, reserved) + 1, 0, 6)], reserved)

    frame = pd.DataFrame(
        {
            "reservation_id": np.arange(1, n + 1, dtype="int64"),
            "hotel": seg["hotel"].to_numpy(),
            "is_canceled": is_canceled,
            "lead_time": lead_time.astype("int64"),
            "arrival_date_year": arrival.year.astype("int64"),
            "arrival_date_month": MONTHS[arrival.month - 1],
            "arrival_date_week_number": arrival.isocalendar().week.to_numpy().astype("int64"),
            "arrival_date_day_of_month": arrival.day.astype("int64"),
            "stays_in_weekend_nights": weekend,
            "stays_in_week_nights": week,
            "adults": adults,
            "children": children.astype("float64"),  # nullable in the public data
            "babies": babies.astype("int64"),
            "meal": seg["meal"].to_numpy(),
            "country": rng.choice(COUNTRIES, n),
            "market_segment": seg["market_segment"].to_numpy(),
            "distribution_channel": seg["distribution_channel"].to_numpy(),
            "is_repeated_guest": rng.binomial(1, seg["repeat_probability"].to_numpy()),
            "previous_cancellations": rng.poisson(0.05, n),
            "previous_bookings_not_canceled": rng.poisson(seg["repeat_probability"].to_numpy() * 3),
            "reserved_room_type": reserved,
            "assigned_room_type": assigned,
            "booking_changes": jitter_count(seg["booking_changes"], 0.5),
            "deposit_type": seg["deposit_type"].to_numpy(),
            "days_in_waiting_list": np.where(rng.random(n) < 0.05, rng.integers(1, 60, n), 0),
            "customer_type": seg["customer_type"].to_numpy(),
            "adr": np.round(seg["adr"].to_numpy() * rng.lognormal(0, 0.12, n), 2),
            "required_car_parking_spaces": jitter_count(seg["parking"], 0.2),
            "total_of_special_requests": jitter_count(seg["special_requests"], 0.5),
            "reservation_status": np.where(is_canceled == 1, "Canceled", "Check-Out"),
            "reservation_status_date": np.where(is_canceled == 1, cancel_date, departure),
        }
    )
    frame["reservation_status_date"] = pd.to_datetime(frame["reservation_status_date"])

    if invalid_fraction > 0:
        bad = rng.choice(n, size=max(1, int(n * invalid_fraction)), replace=False)
        kind = np.arange(len(bad)) % 3
        frame.loc[bad[kind == 0], ["adults", "children", "babies"]] = 0
        frame.loc[bad[kind == 1], "adr"] = -frame.loc[bad[kind == 1], "adr"].abs() - 1
        checked_out = bad[kind == 2]
        frame.loc[checked_out, "is_canceled"] = 0
        frame.loc[checked_out, "reservation_status"] = "Check-Out"
        frame.loc[checked_out, "reservation_status_date"] = arrival[checked_out] - pd.Timedelta(days=3)

    if with_segments:
        frame["guest_segment"] = seg["segment"].to_numpy()
    return frame
