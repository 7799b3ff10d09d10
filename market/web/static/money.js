// Exact decimal EUR text <-> token minor units (6 decimals): no floating point for money.

/** "12.5" -> 12500000; refuses anything but digits with at most 6 decimals. */
export function eurToUnits(text, field) {
  const match = /^(\d{1,12})(?:[.,](\d{1,6}))?$/.exec(String(text).trim());
  if (!match) throw new Error(`${field}: an amount in EUR with at most 6 decimals, e.g. 12.50`);
  return Number(BigInt(match[1]) * 1000000n + BigInt((match[2] || "").padEnd(6, "0")));
}

/** A whole number from an input, or a plain error naming the field. */
export function whole(input, field, min = 0) {
  const text = String(input.value).trim();
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new Error(`${field}: a whole number >= ${min}`);
  }
  return Number(text);
}
