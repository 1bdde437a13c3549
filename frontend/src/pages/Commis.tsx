import { Placeholder } from './Placeholder';

export const Commis = () => (
  <Placeholder title="Commis">See every commis (coding agent run): which are queued, running or done, their logs and their results.</Placeholder>
);
