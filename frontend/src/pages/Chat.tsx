import { Placeholder } from './Placeholder';

export const Chat = () => (
  <Placeholder title="Chat">
    Talk with your coding agents: hand them work, answer their questions and follow their progress.
  </Placeholder>
);
