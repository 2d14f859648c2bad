/** A live browser session (docs/contracts-people.md). */
export interface SessionRecord {
  id: string;
  userId: string | null;
  authTime: Date;
  amr: string[];
}
