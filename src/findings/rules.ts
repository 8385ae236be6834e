/**
 * Version of the rules that make findings from two snapshots. A pack records the version it was
 * made with (manifest `findingRules`), and `verify --db` makes the findings again by the same
 * rules, so a pack made before a rule changed still verifies.
 *
 * 1: the first rules (packs without `findingRules`).
 * 2: the two snapshots are compared in what both selected (diff/common-selection.ts); an
 *    exposure widened on TCP and on UDP are two findings (the protocol is in the id); a replaced
 *    binary is found beside a changed user or command line, and when its file was replaced on
 *    disk under the running process; a changed effective uid is a changed user, and the
 *    privileged-port heuristic reads the effective uid; a fall of attribution coverage is rated
 *    by how far it fell (medium from 10 points, high from 50), a rise is info.
 * 3: outbound connections are aggregated per network namespace, and the namespace is part of
 *    their findings (id and summary): a container's new connection no longer reads as the host's,
 *    nor hides in an aggregate of the host's connections to the same destination. Against a
 *    snapshot taken without process information, outbound connections and the attribution
 *    coverage are not compared (every connection read as opened or ended, the coverage as
 *    collapsed), with a note, as is a snapshot without executable hashes.
 * 4: a network namespace whose `ip netns` name reads as a name netmon makes (`host`, digits,
 *    `netns:...`) is labelled `netns-name:<name>` (model/namespace-label.ts), so that a container
 *    named `host` no longer passes for the host; between two captures of one boot, a namespace
 *    that lost, gained or changed its name and held a socket on both sides has one label, its
 *    name now (else the one it had), so that its listeners are not read as closed and opened
 *    again; and the process of a listener read while
 *    it exited (its executable, user and command line no longer readable) is not compared, where
 *    it read as a changed process.
 * 5: an approval's `expires` is judged at the time the post snapshot was taken, when the change
 *    was seen, not when the diff or pack is made: a change approved until Friday and captured on
 *    Thursday stays approved in a pack made next month (an auditor probe found it turned
 *    unexpected once the report was made after the expiry).
 */
export const FINDING_RULES = 5;

/** Every version of the rules this netmon can apply. */
export const FINDING_RULES_KNOWN: readonly number[] = [1, 2, 3, 4, 5];

/**
 * An earlier form of a rules version: how netmon applied that version before a change that should
 * have made a new one and did not. Packs made then record the same version; `verify --db` tries
 * the earlier forms of a pack's version when the current form does not make its findings again,
 * and says which one did. (Found by an upgrade probe: such packs failed as if changed.)
 */
export interface RulesForm {
  rules: number;
  id: string;
  /** What it did otherwise, in words (verify's note). */
  differs: string;
}

export const EARLIER_FORMS: readonly RulesForm[] = [
  { rules: 1, id: 'raw-coverage', differs: 'attribution coverage was compared over every socket, kernel-owned ones (TIME_WAIT) included' },
  { rules: 2, id: 'flat-coverage', differs: 'a change of attribution coverage was always low' },
  { rules: 3, id: 'compare-unattributed', differs: 'outbound connections and attribution coverage were compared against a snapshot without process information too' },
];

/** The earlier forms of rules version `rules`, oldest last. */
export function earlierForms(rules: number): RulesForm[] {
  return EARLIER_FORMS.filter((f) => f.rules === rules);
}
