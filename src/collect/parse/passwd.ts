/**
 * Account names from /etc/passwd and /etc/group (passwd(5), group(5)): name is field 1 and
 * the numeric id field 3. Malformed lines are skipped; an id maps to its first name.
 * Accounts served only by NSS modules (LDAP, SSSD) are not in these files: such ids stay numeric.
 */
export function parseAccountFile(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const fields = line.split(':');
    const name = fields[0];
    const id = Number(fields[2]);
    if (!name || fields.length < 3 || !Number.isInteger(id) || fields[2] === '') continue;
    if (!names.has(id)) names.set(id, name);
  }
  return names;
}
