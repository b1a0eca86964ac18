"""English, as pxeimport writes dates everywhere (the command's lines, the banners, the status page): ISO 8601's
order, 24-hour clock, in TIME_ZONE (UTC by default). Django's own en formats ("Dec. 7, 2026, 1:04 a.m.") read
differently from every other date the operator sees."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "m-d"
YEAR_MONTH_FORMAT = "Y-m"
