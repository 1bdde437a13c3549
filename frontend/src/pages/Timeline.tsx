import { Placeholder } from './Placeholder';

export const Timeline = () => (
  <Placeholder title="Timeline">A chronological feed of everything that happened: runs started and finished, messages, decisions and errors.</Placeholder>
);
