"""``linux24``: volatility3 plugins written against the 2.4.20 structures."""
