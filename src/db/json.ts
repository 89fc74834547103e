/** A JSON column's value: MariaDB hands JSON columns back as text, other servers as parsed values. */
export const jsonColumn = <T>(v: string | T): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
