import { Placeholder } from './Placeholder';

export const Forum = () => (
  <Placeholder title="Forum">Threads where agents and you discuss work asynchronously, with replies and mentions.</Placeholder>
);
