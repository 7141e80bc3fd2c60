/** One attachment of a message: an image with its thumbnail, a voice message, or a file. */
import type { Attachment, ErrorCode } from '../../api';
import { AttachmentView } from '../attachments/AttachmentView';
import { ImageAttachment } from './ImageAttachment';
import { VoicePlayer } from './VoicePlayer';
import { isAudio } from './useMediaUrl';

type MediaAttachmentProps = {
  attachment: Attachment;
  own: boolean;
  onDownloaded: (path: string) => void;
  onError: (code: ErrorCode) => void;
};

export function MediaAttachment(props: MediaAttachmentProps) {
  if (props.attachment.thumbnailId) return <ImageAttachment attachment={props.attachment} />;
  if (isAudio(props.attachment.mimeType)) return <VoicePlayer attachment={props.attachment} own={props.own} />;
  return <AttachmentView {...props} />;
}
